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

from search.storage._schema import lock_key as _key
from search.storage._sql import sql_engine
from spaces.core import Url, resolve_storage_url as parse_storage, workdir


class StudyLock:
    """``with lock:`` holds the study's lock; reusable, one holder per process at a time."""

    def __init__(self, storage_url: str | Url, study_name: str) -> None:
        self.storage_url = parse_storage(storage_url)
        self.study_name = study_name
        self._engine = None
        if self.storage_url.is_postgres:
            self._engine = sql_engine(self.storage_url, pool_pre_ping=True)

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
        base = self.storage_url.local_path
        if base is None:
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
