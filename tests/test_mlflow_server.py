"""A study with 2 workers against a real ``mlflow server``, checked from an independent client."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

import numpy as np
import optuna
import pytest

from search.storage import get_storage
from tests._mlflow import SERVER_ENV
from tests._studies import write_study
from tests.conftest import run_cli

pytestmark = pytest.mark.slow

TRIAL_ARTIFACTS = {"learning_curve.png", "confusion_matrix.png", "model_summary.txt", "config.json"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def mlflow_server(tmp_path):
    port = free_port()
    folder = tmp_path / "server"
    folder.mkdir()
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
         "--backend-store-uri", f"sqlite:///{folder / 'mlflow.db'}", "--artifacts-destination",
         str(folder / "artifacts"), "--workers", "1"],
        stdout=subprocess.DEVNULL, stderr=open(folder / "server.log", "w"), start_new_session=True,
        env={**os.environ, **SERVER_ENV},
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            if urllib.request.urlopen(f"{url}/health", timeout=2).status == 200:
                break
        except OSError:
            pass
        assert proc.poll() is None, (folder / "server.log").read_text()[-2000:]
        assert time.monotonic() < deadline, "mlflow server did not start"
        time.sleep(0.5)
    yield url
    os.killpg(proc.pid, 15)
    proc.wait(timeout=30)


def test_two_workers_log_every_trial_to_a_real_tracking_server(tmp_path, mlflow_server):
    from mlflow import MlflowClient

    path = write_study(tmp_path, "served", search={"trials": 4, "workers": 2, "algorithm": "random"})
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env["TUNEFORGE_HOME"] = str(tmp_path / ".tuneforge")
    result = run_cli("run", str(path), "--tracking-uri", mlflow_server, cwd=tmp_path, env=env)
    assert result.code == 0, result.stderr[-3000:]

    client = MlflowClient(tracking_uri=mlflow_server)  # independent of the one that logged
    experiment = client.get_experiment_by_name("served")
    runs = client.search_runs([experiment.experiment_id], max_results=1000)
    trials = optuna.load_study(study_name="served",
                               storage=get_storage(f"journal:{tmp_path / '.tuneforge' / 'optuna.journal'}"))
    trial_runs = [r for r in runs if r.data.tags.get("tuneforge.role") == "trial"]
    parents = [r for r in runs if r.data.tags.get("tuneforge.role") == "study"]
    assert len(parents) == 1
    assert sorted(int(r.data.tags["trial_number"]) for r in trial_runs) == [t.number for t in trials.trials]
    for run in trial_runs:
        trial = trials.trials[int(run.data.tags["trial_number"])]
        assert {a.path for a in client.list_artifacts(run.info.run_id)} >= TRIAL_ARTIFACTS
        for key in ("loss", "val_loss", "accuracy", "val_accuracy"):
            history = client.get_metric_history(run.info.run_id, key)
            assert sorted(m.step for m in history) == list(range(trial.user_attrs["epochs"]))
        assert run.data.tags["mlflow.parentRunId"] == parents[0].info.run_id
        assert run.info.status == "FINISHED"

    study_files = {a.path for a in client.list_artifacts(parents[0].info.run_id, "study")}
    assert {"study/study_report.html", "study/leaderboard.csv", "study/leaderboard.md",
            "study/optimization_history.png", "study/intermediate_values.png"} <= study_files

    # the registered best model, loaded with mlflow.pyfunc, reproduces the recorded test score
    parent = parents[0]
    version = parent.data.tags["registered_version"]
    model_version = client.get_model_version("served", version)
    assert model_version.tags["trial"] == parent.data.tags["best_trial"]
    assert model_version.tags["dataset_sha256"] == parent.data.params["data_sha256"]
    card = json.loads((tmp_path / "models" / "served" / "model_card.json").read_text())
    from search.driver import dataset_for
    from search.spec import load_study

    dataset = dataset_for(load_study(path))
    np.save(tmp_path / "x_test.npy", dataset.x_test)
    # a fresh process, so the global tracking URI mlflow.pyfunc needs does not leak into other tests
    code = ("import sys, json, numpy as np, mlflow; m = mlflow.pyfunc.load_model(sys.argv[1]); "
            "print(json.dumps(np.asarray(m.predict(np.load(sys.argv[2]))).argmax(axis=1).tolist()))")
    loaded = subprocess.run([sys.executable, "-c", code, f"models:/served/{version}", str(tmp_path / "x_test.npy")],
                            env={**env, "MLFLOW_TRACKING_URI": mlflow_server}, capture_output=True, text=True,
                            timeout=300)
    assert loaded.returncode == 0, loaded.stderr[-2000:]
    predicted = np.asarray(json.loads(loaded.stdout.strip().splitlines()[-1]))
    accuracy = float(np.mean(predicted == dataset.y_test))
    assert accuracy == pytest.approx(card["metrics"]["test"]["accuracy"], abs=1e-4)
    assert accuracy == pytest.approx(parent.data.metrics["test_accuracy"], abs=1e-4)
