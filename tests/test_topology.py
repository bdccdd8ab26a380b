"""The docker-compose topology as plain processes (no Docker engine here).

PostgreSQL (a fresh database on the local server for the studies, another for
MLflow), ``mlflow server`` with PostgreSQL as its backend store, two
``tuneforge worker --all --wait`` processes started before anything is submitted,
and one ``tuneforge submit``: the study completes with every trial in MLflow.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import urllib.request

import optuna
import psutil
import pytest

from search.control import ControlStore, Status
from search.storage import get_storage
from tests._mlflow import SERVER_ENV
from tests._postgres import cli_env, fresh_database_url, start_cli, wait_for
from tests._studies import write_study
from tests.conftest import run_cli

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


@pytest.fixture
def studies_db():
    yield from fresh_database_url()


@pytest.fixture
def mlflow_db():
    yield from fresh_database_url()


@pytest.fixture
def mlflow_server(tmp_path, mlflow_db):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    folder = tmp_path / "mlflow"
    folder.mkdir()
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
         "--backend-store-uri", mlflow_db, "--artifacts-destination", str(folder / "artifacts"), "--workers", "1"],
        stdout=subprocess.DEVNULL, stderr=open(folder / "server.log", "w"), start_new_session=True,
        env={**os.environ, **SERVER_ENV},
    )
    url = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        assert proc.poll() is None, (folder / "server.log").read_text()[-3000:]
        try:
            return urllib.request.urlopen(f"{url}/health", timeout=2).status == 200
        except OSError:
            return False

    wait_for(healthy, timeout=180, what="mlflow server on PostgreSQL")
    yield url
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(timeout=60)


def test_compose_topology_as_processes(tmp_path, studies_db, mlflow_server):
    from mlflow import MlflowClient

    workers = [start_cli(tmp_path, "worker", "--storage", studies_db, "--all", "--wait", "--poll", "1",
                         "--create-tables",
                         *extra, log=f"worker-{i}.log")
               for i, extra in enumerate([(), ("--process-per-trial",)])]
    path = write_study(tmp_path, "topology", fixed={"epochs": 2, "batch_size": 64, "patience": 0},
                       search={"algorithm": "tpe", "trials": 5})
    submitted = run_cli("submit", str(path), "--storage", studies_db, "--tracking-uri", mlflow_server,
                        cwd=tmp_path, env=cli_env(tmp_path))
    assert submitted.code == 0, submitted.stderr[-3000:]
    assert "submitted study 'topology'" in submitted.stdout
    try:
        wait_for(lambda: ControlStore(studies_db).require("topology").status is Status.DONE, timeout=400,
                 what="the study to complete", procs=workers)
        # idle: every slot process has exited (the one that finished the study wrote its report first)
        wait_for(lambda: not any(psutil.Process(w.pid).children() for w in workers), timeout=300,
                 what="the workers to go idle", procs=workers)
    finally:
        for w in workers:
            w.send_signal(signal.SIGTERM)
        codes = [w.wait(timeout=120) for w in workers]
    logs = [(tmp_path / f"worker-{i}.log").read_text() for i in range(2)]
    assert codes == [130, 130] and not any("Traceback" in log for log in logs), [log[-2000:] for log in logs]

    trials = optuna.load_study(study_name="topology", storage=get_storage(studies_db)).get_trials()
    assert [t.number for t in trials] == list(range(5))
    assert all(t.state is optuna.trial.TrialState.COMPLETE for t in trials)
    client = MlflowClient(tracking_uri=mlflow_server)  # an independent client on the server
    experiment = client.get_experiment_by_name("topology")
    runs = client.search_runs([experiment.experiment_id], max_results=100)
    parent = [r for r in runs if r.data.tags.get("tuneforge.role") == "study"]
    by_number = {int(r.data.tags["trial_number"]): r for r in runs if r.data.tags.get("tuneforge.role") == "trial"}
    assert len(parent) == 1 and parent[0].info.status == "FINISHED"
    assert sorted(by_number) == list(range(5))
    for t in trials:
        run = by_number[t.number]
        assert run.info.status == "FINISHED" and run.data.tags["mlflow.parentRunId"] == parent[0].info.run_id
        assert run.data.metrics["objective"] == pytest.approx(t.value)
        assert run.data.tags["worker"] == t.user_attrs["worker"]
        assert "learning_curve.png" in {a.path for a in client.list_artifacts(run.info.run_id)}
    status = run_cli("status", "--storage", studies_db, cwd=tmp_path, env=cli_env(tmp_path))
    assert status.code == 0 and "5/5" in status.stdout and "done" in status.stdout
