"""A lock per study, so "count the trials, then start one" is one step across workers.

Local files (journal, SQLite) use an ``fcntl`` lock file beside them; PostgreSQL
uses an advisory lock, which works across machines. Worker actors on a Ray cluster
(``TUNEFORGE_RAY_LOCK`` set) use a lock actor their driver keeps. Other storages get no lock
(the budget may then be overshot by a trial or two per worker).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

from tracking._store import workdir


def _key(study_name: str) -> int:
    return int.from_bytes(hashlib.sha256(study_name.encode()).digest()[:8], "big", signed=True)


class StudyLock:
    """``with lock:`` holds the study's lock; reusable, one holder per process at a time."""

    def __init__(self, storage_url: str, study_name: str) -> None:
        self.storage_url = storage_url
        self.study_name = study_name
        self._engine = None
        if storage_url.startswith(("postgresql", "postgres")):
            import sqlalchemy

            self._engine = sqlalchemy.create_engine(storage_url, pool_pre_ping=True, poolclass=sqlalchemy.pool.NullPool)

    @contextlib.contextmanager
    def hold(self) -> Iterator[None]:
        ray_lock = os.environ.get("TUNEFORGE_RAY_LOCK")  # a worker actor on a Ray cluster (search.executors)
        if ray_lock:
            with _hold_ray_lock(ray_lock):
                yield
            return
        if self._engine is not None:
            import sqlalchemy

            with self._engine.connect() as conn:
                conn.execute(sqlalchemy.text("SELECT pg_advisory_lock(:k)"), {"k": _key(self.study_name)})
                try:
                    yield
                finally:
                    conn.execute(sqlalchemy.text("SELECT pg_advisory_unlock(:k)"), {"k": _key(self.study_name)})
            return
        path = self._lock_path()
        if path is None:
            yield
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _lock_path(self) -> Path | None:
        url = self.storage_url
        if url.startswith("sqlite:///"):
            base = Path(url[len("sqlite:///"):])
        elif url.startswith("journal:"):
            base = Path(url[len("journal:"):])
        else:
            return None
        safe = hashlib.sha256(self.study_name.encode()).hexdigest()[:12]
        return (base.parent if base.parent.exists() else workdir()) / "locks" / f"{safe}.lock"


RAY_LOCK_POLL_SECONDS = 0.05


@contextlib.contextmanager
def _hold_ray_lock(name: str) -> Iterator[None]:
    """Hold the lock kept by the run's named lock actor (``search.executors._ray_actor.StudyLockKeeper``)."""
    import socket
    import threading
    import time
    import uuid

    import ray

    keeper = ray.get_actor(name)
    holder = f"{socket.gethostname()}-{os.getpid()}-{threading.get_ident()}-{uuid.uuid4().hex[:6]}"
    while not ray.get(keeper.acquire.remote(holder)):
        time.sleep(RAY_LOCK_POLL_SECONDS)
    try:
        yield
    finally:
        ray.get(keeper.release.remote(holder))
