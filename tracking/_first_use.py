"""Serialise the first creation of a local MLflow store across processes.

MLflow creates a SQLite store's schema (Alembic migrations) on first use; two processes
doing it at the same instant collide (``duplicate column name: step``). A lock file
beside the database makes one process create it while the others wait, then find it made.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager

from spaces.core import Url


@contextmanager
def first_use_lock(tracking_uri: Url) -> Iterator[None]:
    """Hold an exclusive lock on ``<db>.lock`` for a local SQLite store (no lock for anything else)."""
    path = tracking_uri.local_path if tracking_uri.is_sqlite else None
    if path is None:
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
