"""Where MLflow writes: a local SQLite store under ``.tuneforge/`` unless told otherwise."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from spaces.core import Url, resolve_tracking_uri, workdir


def default_artifact_root(tracking_uri: str | Url) -> str | None:
    """Local stores keep artifacts in ``.tuneforge/mlartifacts``; servers choose their own."""
    if resolve_tracking_uri(tracking_uri).local_path is not None:
        return (workdir() / "mlartifacts").as_uri()
    return None


def prepare_local_store(tracking_uri: str | Url) -> None:
    """Create the folder of a local SQLite store and switch it to WAL so parallel workers do not block.

    A new store starts as a copy of this machine's empty store for the installed MLflow
    (:func:`schema_template`): MLflow's schema migrations then run once per machine and
    MLflow version, not once per store (about 10 s on 2 busy cores, against a file copy).
    """
    url = resolve_tracking_uri(tracking_uri)
    if not url.is_sqlite or url.local_path is None:
        return
    path = url.local_path
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        _copy_template(path, default_artifact_root(url))
    with sqlite3.connect(path, timeout=30) as conn:
        conn.execute("PRAGMA journal_mode=WAL")


def schema_template() -> Path:
    """This machine's empty MLflow store for the installed MLflow version, made on first use.

    It lives in ``$XDG_CACHE_HOME/tuneforge`` (``~/.cache/tuneforge``); it is written to a
    scratch file and renamed into place, so a racing process never sees half of it.
    """
    from importlib.metadata import version

    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "tuneforge"
    template = cache / f"mlflow-{version('mlflow')}-empty.db"
    if template.exists():
        return template
    cache.mkdir(parents=True, exist_ok=True)
    scratch = cache / f".{template.name}.{os.getpid()}.tmp"
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    store = SqlAlchemyStore(f"sqlite:///{scratch}", (cache / "unused-artifacts").as_uri())
    store.engine.dispose()
    os.replace(scratch, template)
    return template


def _copy_template(path: Path, artifact_root: str | None) -> None:
    """Make ``path`` a copy of :func:`schema_template` unless another process made the store first."""
    import shutil

    scratch = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        shutil.copyfile(schema_template(), scratch)
        if artifact_root:  # the Default experiment's artifacts go where the store's others do
            with sqlite3.connect(scratch) as conn:
                conn.execute("UPDATE experiments SET artifact_location = ? WHERE experiment_id = 0",
                             (f"{artifact_root}/0",))
            conn.close()
        os.link(scratch, path)  # fails if the store appeared meanwhile: that one is kept
    except FileExistsError:
        pass
    finally:
        scratch.unlink(missing_ok=True)
