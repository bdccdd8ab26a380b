"""Opening a study storage: every way of naming one is normalised here, once per process and URL.

Why a journal file locally: it is Optuna's storage for several processes on one
machine; every write is an append under a file lock, so parallel workers never
see SQLite's "database is locked". PostgreSQL (``--storage postgresql://...``)
serves many machines. tuneforge's own tables (``search.control``) live in the same
database, or in a SQLite file beside a journal (:func:`control_url`).
"""

from __future__ import annotations

import os
from typing import Any

from search.storage._sql import cannot_open
from spaces.core import StorageError, Url, resolve_storage_url

_OPENED: dict[tuple[int, Url], Any] = {}  # (pid, URL) -> this process's one storage for that database

def get_storage(url: str | Url | None = None) -> Any:
    """The Optuna storage for ``url`` (a string, a parsed :class:`Url`, or None for the local journal).

    One storage object (one small connection pool) per process and database, shared by the
    worker loop, its heartbeat thread and recovery: N workers then hold about 2N connections,
    so eight workers fit a default PostgreSQL (max_connections = 100).
    """
    import optuna

    url = resolve_storage_url(url)
    key = (os.getpid(), url)
    if key in _OPENED:
        return _OPENED[key]
    if url.is_grpc_proxy:
        import warnings

        parts = url.secret()[len("grpc://"):].rpartition(":")
        with warnings.catch_warnings():  # "experimental", once per worker: noise in every actor's log
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            storage = optuna.storages.GrpcStorageProxy(host=parts[0], port=int(parts[2]))
    elif url.is_journal:
        from optuna.storages.journal import JournalFileBackend

        url.local_path.parent.mkdir(parents=True, exist_ok=True)
        storage = optuna.storages.JournalStorage(JournalFileBackend(str(url.local_path)))
    else:
        from search.storage._schema import schema_lock

        try:
            with schema_lock(url):  # many workers on an empty database: one creates Optuna's tables
                storage = optuna.storages.RDBStorage(
                    url.secret(), engine_kwargs={"pool_pre_ping": True, "pool_size": 2, "max_overflow": 3}
                    if not url.is_sqlite else {"pool_pre_ping": True})
        except StorageError:
            raise
        except Exception as exc:  # bad URL, unreachable server, missing driver
            raise cannot_open(url, exc) from None
    _OPENED[key] = storage
    return storage


def control_url(url: str | Url) -> Url:
    """The database of tuneforge's own tables: the study storage's own, or a SQLite file beside a journal."""
    url = resolve_storage_url(url)
    if url.is_journal:
        path = url.local_path
        path.parent.mkdir(parents=True, exist_ok=True)
        return Url.parse(f"sqlite:///{path.with_name(path.name + '.control.db')}")
    return url
