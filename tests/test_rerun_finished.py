"""Rerunning a finished study boots no worker: it answers from the storage and the export (issue 20).

Real parts: ``tuneforge run`` subprocesses with a journal storage and a local MLflow store, the
exported SavedModel's card on disk. "Nothing booted" is counted by the worker logs the supervisor
opens for every worker it starts (one file per boot) and by the trials in storage.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import optuna
import pytest

from search.storage import get_storage
from tests._mlflow import study_runs
from tests._studies import write_study
from tests.conftest import run_cli

pytestmark = pytest.mark.slow


def _env(folder: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env["TUNEFORGE_HOME"] = str(folder / ".tuneforge")
    return env


def _worker_logs(folder: Path, name: str) -> dict[str, float]:
    logs = folder / ".tuneforge" / "logs" / name
    return {p.name: p.stat().st_mtime_ns for p in logs.glob("*.log")} if logs.exists() else {}


def test_a_finished_study_reruns_without_workers_and_exports_only_what_is_missing(tmp_path):
    name = "finished-rerun"
    path = write_study(tmp_path, name, search={"trials": 2}, fixed={"epochs": 1, "batch_size": 64, "patience": 0})
    export = tmp_path / "model"
    first = run_cli("run", str(path), "--export-dir", str(export), cwd=tmp_path, env=_env(tmp_path))
    assert first.code == 0, first.stderr[-3000:]
    card = json.loads((export / "model_card.json").read_text())
    logs = _worker_logs(tmp_path, name)
    assert logs  # the first run booted its worker (and the supervisor logged it)
    exported_at = (export / "model_card.json").stat().st_mtime_ns

    again = run_cli("run", str(path), "--export-dir", str(export), cwd=tmp_path, env=_env(tmp_path))
    assert again.code == 0, again.stderr[-3000:]
    assert _worker_logs(tmp_path, name) == logs  # no worker booted (none restarted, no log reopened)
    assert (export / "model_card.json").stat().st_mtime_ns == exported_at  # the export is reused, not redone
    assert f"best trial #{card['trial']}" in again.stdout and f"exported to {export}" in again.stdout
    assert "2 complete" in again.stdout
    storage = get_storage(f"journal:{tmp_path / '.tuneforge' / 'optuna.journal'}")
    assert len(optuna.load_study(study_name=name, storage=storage).get_trials()) == 2

    shutil.rmtree(export)  # the export went missing: the rerun exports it again, still without workers
    third = run_cli("run", str(path), "--export-dir", str(export), cwd=tmp_path, env=_env(tmp_path))
    assert third.code == 0, third.stderr[-3000:]
    assert _worker_logs(tmp_path, name) == logs
    again_card = json.loads((export / "model_card.json").read_text())
    assert again_card["trial"] == card["trial"] and again_card["config"] == card["config"]
    assert again_card["objective"]["retrained_value"] == pytest.approx(card["objective"]["retrained_value"])
    runs = study_runs(f"sqlite:///{tmp_path / '.tuneforge' / 'mlflow.db'}", name)
    assert len(runs.parent) == 1 and runs.parent[0].info.status == "FINISHED"
    assert runs.parent[0].data.tags["best_trial"] == str(card["trial"])


def test_a_larger_budget_still_boots_workers_and_trains_the_rest(tmp_path):
    name = "finished-then-more"
    path = write_study(tmp_path, name, search={"trials": 1}, fixed={"epochs": 1, "batch_size": 64, "patience": 0})
    assert run_cli("run", str(path), "--no-export", cwd=tmp_path, env=_env(tmp_path)).code == 0
    more = run_cli("run", str(path), "--no-export", "--trials", "2", cwd=tmp_path, env=_env(tmp_path))
    assert more.code == 0, more.stderr[-3000:]
    storage = get_storage(f"journal:{tmp_path / '.tuneforge' / 'optuna.journal'}")
    trials = optuna.load_study(study_name=name, storage=storage).get_trials()
    assert [t.state for t in trials] == [optuna.trial.TrialState.COMPLETE] * 2
