"""Optuna storages: a journal file under ``.tuneforge/`` by default, or any URL Optuna accepts.

Why a journal file locally: it is Optuna's storage for several processes on one
machine; every write is an append under a file lock, so parallel workers never
see SQLite's "database is locked". PostgreSQL (``--storage postgresql://...``)
serves many machines.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from spaces import TuneforgeError
from tracking._store import resolve_storage_url  # noqa: F401  (re-exported)


_RDB: dict[tuple[int, str], Any] = {}  # (pid, URL) -> this process's one RDBStorage for that database


class StorageError(TuneforgeError):
    """The study storage cannot be opened."""


def open_storage(url: str) -> Any:
    """An Optuna storage object for a resolved URL."""
    import optuna

    if url.startswith("journal:"):
        from optuna.storages.journal import JournalFileBackend

        path = Path(url[len("journal:"):])
        path.parent.mkdir(parents=True, exist_ok=True)
        return optuna.storages.JournalStorage(JournalFileBackend(str(path)))
    if url.startswith("grpc://"):  # Optuna's gRPC storage proxy, served by a run's driver (search.executors)
        import warnings

        host, _, port = url[len("grpc://"):].rpartition(":")
        with warnings.catch_warnings():  # "experimental" once per worker: noise in every actor's log
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.storages.GrpcStorageProxy(host=host, port=int(port))
    key = (os.getpid(), url)
    if key in _RDB:
        return _RDB[key]
    try:
        from search.control import schema_lock

        with schema_lock(url):  # many workers on an empty database: one creates Optuna's tables
            # One storage (one small connection pool) per process and database, shared by the worker
            # loop, its heartbeat thread and recovery: N workers then hold about 2N connections, not
            # a pool per call, so eight workers fit a default PostgreSQL (max_connections = 100).
            storage = optuna.storages.RDBStorage(
                url, engine_kwargs={"pool_pre_ping": True, "pool_size": 2, "max_overflow": 3}
                if not url.startswith("sqlite") else {"pool_pre_ping": True})
        _RDB[key] = storage
        return storage
    except Exception as exc:  # bad URL, unreachable server, missing driver
        raise StorageError(
            f"cannot open study storage {url!r}: {type(exc).__name__}: {str(exc).splitlines()[0]}",
            hint="check the URL, that the server runs and accepts connections",
        ) from None
