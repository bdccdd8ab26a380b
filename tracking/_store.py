"""Where MLflow writes: a local SQLite store under ``.tuneforge/`` unless told otherwise."""

from __future__ import annotations

import sqlite3

from spaces.core import Url, resolve_tracking_uri, workdir


def default_artifact_root(tracking_uri: str | Url) -> str | None:
    """Local stores keep artifacts in ``.tuneforge/mlartifacts``; servers choose their own."""
    if resolve_tracking_uri(tracking_uri).local_path is not None:
        return (workdir() / "mlartifacts").as_uri()
    return None


def prepare_local_store(tracking_uri: str | Url) -> None:
    """Create the folder of a local SQLite store and switch it to WAL so parallel workers do not block."""
    url = resolve_tracking_uri(tracking_uri)
    if not url.is_sqlite or url.local_path is None:
        return
    url.local_path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(url.local_path, timeout=30) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
