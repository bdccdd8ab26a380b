"""Two ``tuneforge run`` of one study started at the same instant: both succeed, the budget is met exactly.

Each process imports everything first, then calls the CLI at one shared wall-clock
instant: in a fresh folder both create the local MLflow store and the study at once;
in an existing store both create the same new study at once.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import optuna
import pytest

from search.storage import get_storage
from tests._mlflow import study_runs
from tests._studies import write_study

pytestmark = pytest.mark.slow
OState = optuna.trial.TrialState


def local_env(folder: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env["TUNEFORGE_HOME"] = str(folder / ".tuneforge")
    return env


def run_twice_at_once(folder: Path, *args: str) -> list[tuple[int, str]]:
    go = time.time() + 8.0
    launcher = textwrap.dedent(f"""
        import sys, time
        from search.cli import main
        import mlflow.store.tracking.sqlalchemy_store, optuna  # the slow imports before the instant
        time.sleep(max(0.0, {go} - time.time()))
        main(sys.argv[1:])
    """)
    procs = [subprocess.Popen([sys.executable, "-c", launcher, "run", *args], cwd=folder, env=local_env(folder),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for _ in range(2)]
    return [(p.wait(timeout=600), p.communicate()[0]) for p in procs]


def check_budget_met_exactly(folder: Path, name: str, budget: int) -> None:
    url = f"journal:{folder / '.tuneforge' / 'optuna.journal'}"
    trials = optuna.load_study(study_name=name, storage=get_storage(url)).get_trials()
    counted = [t for t in trials if "lost" not in t.user_attrs]
    assert len(counted) == budget and all(t.state is OState.COMPLETE for t in counted)
    runs = study_runs(f"sqlite:///{folder / '.tuneforge' / 'mlflow.db'}", name)
    assert len(runs.parent) == 1, "both runs share one parent run"
    assert [r for r in [*runs.parent, *runs.trials.values()] if r.info.status == "RUNNING"] == []


def test_two_runs_at_once_in_a_fresh_folder(tmp_path):
    path = write_study(tmp_path, "twins", search={"trials": 4, "workers": 1, "algorithm": "random"},
                       fixed={"epochs": 1, "batch_size": 64, "patience": 0})
    for code, out in run_twice_at_once(tmp_path, str(path), "--no-export"):
        assert code == 0, out[-3000:]
        assert "Traceback" not in out
    check_budget_met_exactly(tmp_path, "twins", 4)


def test_two_runs_creating_the_same_new_study_in_an_existing_store(tmp_path):
    from tracking.mlflow_log import client_for

    home = tmp_path / ".tuneforge"
    home.mkdir()
    optuna.create_study(study_name="another", storage=get_storage(f"journal:{home / 'optuna.journal'}"))
    client_for(f"sqlite:///{home / 'mlflow.db'}")  # the MLflow store exists too
    path = write_study(tmp_path, "newborn", search={"trials": 3, "workers": 1, "algorithm": "random"},
                       fixed={"epochs": 1, "batch_size": 64, "patience": 0})
    for code, out in run_twice_at_once(tmp_path, str(path), "--no-export"):
        assert code == 0, out[-3000:]
        assert "different" not in out
    check_budget_met_exactly(tmp_path, "newborn", 3)
