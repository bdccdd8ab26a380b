"""Where MLflow writes: a local SQLite store under ``.tuneforge/`` unless told otherwise."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path


def workdir() -> Path:
    """tuneforge's local folder: ``$TUNEFORGE_HOME`` or ``./.tuneforge``."""
    return Path(os.environ.get("TUNEFORGE_HOME", ".tuneforge")).resolve()


def resolve_tracking_uri(uri: str | None = None) -> str:
    """``--tracking-uri``, else ``$MLFLOW_TRACKING_URI``, else ``sqlite:///.tuneforge/mlflow.db``."""
    from tracking._uri_check import check_tracking_uri

    if uri:
        return check_tracking_uri(uri)
    if os.environ.get("MLFLOW_TRACKING_URI"):
        return check_tracking_uri(os.environ["MLFLOW_TRACKING_URI"], source="$MLFLOW_TRACKING_URI")
    return f"sqlite:///{workdir() / 'mlflow.db'}"


def resolve_storage_url(url: str | None = None) -> str:
    """``--storage`` as given (a ``*.journal`` path becomes ``journal:<abs path>``), else the local journal.

    The local default is an Optuna journal file, ``.tuneforge/optuna.journal``.
    """
    if url:
        if url.endswith(".journal") and not url.startswith("journal:"):
            return f"journal:{Path(url).resolve()}"
        return url
    return f"journal:{workdir() / 'optuna.journal'}"


def default_artifact_root(tracking_uri: str) -> str | None:
    """Local stores keep artifacts in ``.tuneforge/mlartifacts``; servers choose their own."""
    if tracking_uri.startswith("sqlite:///") or tracking_uri.startswith("file:"):
        return (workdir() / "mlartifacts").as_uri()
    return None


def prepare_local_store(tracking_uri: str) -> None:
    """Create the folder of a local SQLite store and switch it to WAL so parallel workers do not block."""
    if not tracking_uri.startswith("sqlite:///"):
        return
    path = Path(tracking_uri[len("sqlite:///"):])
    path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path, timeout=30) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
