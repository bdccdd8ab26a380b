"""Serialise the first creation of a local MLflow store across processes.

MLflow creates a SQLite store's schema (Alembic migrations) on first use; two processes
doing it at the same instant collide (``duplicate column name: step``). A lock file
beside the database makes one process create it while the others wait, then find it made.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def first_use_lock(tracking_uri: str) -> Iterator[None]:
    """Hold an exclusive lock on ``<db>.lock`` for a ``sqlite:///`` store (no lock for anything else)."""
    if not tracking_uri.startswith("sqlite:///"):
        yield
        return
    path = Path(tracking_uri[len("sqlite:///"):])
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
