"""A new local MLflow store is a copy of this machine's empty store: the schema is migrated once (issue 20)."""

from __future__ import annotations

import os
import sqlite3

import pytest

from tracking import mlflow_log
from tracking._store import prepare_local_store, schema_template


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("TUNEFORGE_HOME", str(tmp_path / "home"))
    return tmp_path / "cache" / "tuneforge"


def _tables(path) -> set[str]:
    with sqlite3.connect(path) as conn:
        names = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    conn.close()
    return names


def test_new_stores_copy_one_template_and_work_as_mlflow_stores(cache, tmp_path):
    first, second = tmp_path / "a" / "mlflow.db", tmp_path / "b" / "mlflow.db"
    prepare_local_store(f"sqlite:///{first}")
    template = schema_template()
    assert template.parent == cache and template.exists()
    made_at = template.stat().st_mtime_ns
    prepare_local_store(f"sqlite:///{second}")
    assert template.stat().st_mtime_ns == made_at  # made once, then only copied
    assert {"experiments", "runs", "metrics", "alembic_version"} <= _tables(second)
    assert not [p for p in second.parent.iterdir() if p.name.endswith(".tmp")]

    client = mlflow_log.client_for(f"sqlite:///{second}")
    experiment = mlflow_log.ensure_experiment(client, "copied", f"sqlite:///{second}")
    run = client.create_run(experiment)
    client.log_metric(run.info.run_id, "val_accuracy", 0.5)
    client.set_terminated(run.info.run_id)
    again = mlflow_log.client_for(f"sqlite:///{second}")
    assert again.get_run(run.info.run_id).data.metrics == {"val_accuracy": 0.5}
    default = again.get_experiment("0")
    assert default.artifact_location.startswith((tmp_path / "home" / "mlartifacts").as_uri())
    assert mlflow_log.client_for(f"sqlite:///{first}").search_runs([mlflow_log.ensure_experiment(
        mlflow_log.client_for(f"sqlite:///{first}"), "other", f"sqlite:///{first}")]) == []


def test_an_existing_store_is_never_replaced(cache, tmp_path):
    path = tmp_path / "mlflow.db"
    prepare_local_store(f"sqlite:///{path}")
    client = mlflow_log.client_for(f"sqlite:///{path}")
    experiment = mlflow_log.ensure_experiment(client, "kept", f"sqlite:///{path}")
    prepare_local_store(f"sqlite:///{path}")
    assert mlflow_log.client_for(f"sqlite:///{path}").get_experiment(experiment).name == "kept"
    assert os.path.getsize(path) > 0
