"""`tuneforge worker` daemons sharing studies in PostgreSQL: budget, grid, kill -9, heartbeats, cold start.

Each test gets its own fresh database on the local server (dropped after). The
workers are the real CLI in subprocesses; the studies are tiny digits MLPs.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import optuna
import psutil
import pytest
import sqlalchemy

from search.storage import get_storage
from tests._mlflow import study_runs
from tests._postgres import cli_env, fresh_database_url, start_cli, wait_for
from tests._studies import write_study
from tests.conftest import run_cli

pytestmark = [pytest.mark.slow, pytest.mark.postgres]
OState = optuna.trial.TrialState


@pytest.fixture
def pg_url():
    yield from fresh_database_url()


def tracking(folder) -> str:
    return f"sqlite:///{folder / 'mlflow.db'}"


def submit(folder, path, url, *args: str) -> None:
    result = run_cli("submit", str(path), "--storage", url, "--tracking-uri", tracking(folder), *args, cwd=folder,
                     env=cli_env(folder))
    assert result.code == 0, result.stderr[-3000:]


def finish(procs: list[subprocess.Popen], timeout: float = 900) -> list[int]:
    return [p.wait(timeout=timeout) for p in procs]


def log_of(folder, name: str) -> str:
    return (folder / name).read_text(errors="replace")


def test_eight_workers_started_at_the_same_instant_on_an_empty_database(tmp_path, pg_url):
    # each process imports everything first, then all call the CLI at the same wall-clock instant
    go = time.time() + 6.0
    launcher = textwrap.dedent(f"""
        import sys, time
        from search.cli import main
        time.sleep(max(0.0, {go} - time.time()))
        main(sys.argv[1:])
    """)
    procs = [subprocess.Popen([sys.executable, "-c", launcher, "worker", "--storage", pg_url, "--all",
                               "--create-tables"],
                              cwd=tmp_path, env=cli_env(tmp_path), stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True) for _ in range(8)]
    outputs = [p.communicate(timeout=120)[0] for p in procs]
    for p, out in zip(procs, outputs):
        assert p.returncode == 0, out[-3000:]
        assert "Traceback" not in out and "error:" not in out, out[-3000:]
    engine = sqlalchemy.create_engine(pg_url, poolclass=sqlalchemy.pool.NullPool)
    with engine.connect() as conn:
        count = lambda table: conn.execute(sqlalchemy.text(f"SELECT count(*) FROM {table}")).scalar()  # noqa: E731
        assert count("version_info") == 1 and count("alembic_version") == 1  # Optuna's schema, stamped once
        assert conn.execute(sqlalchemy.text("SELECT version FROM tuneforge_schema")).scalars().all() == [1]
        assert count("tuneforge_studies") == 0 and count("studies") == 0
    status = run_cli("status", "--storage", pg_url, cwd=tmp_path, env=cli_env(tmp_path))
    assert status.code == 0 and "0 studies" in status.stdout


# The figure is 4 workers x 25 trials: `TUNEFORGE_PG_TRIALS=100 pytest -k 100_point_grid`. The suite
# runs 4 x 4 of the same 100-point grid so it stays fast; the invariants checked are the same.
PG_TRIALS = int(os.environ.get("TUNEFORGE_PG_TRIALS", "16"))


def test_four_workers_share_a_100_point_grid_exactly(tmp_path, pg_url):
    path = write_study(
        tmp_path, "grid100",
        space={"units": {"type": "categorical", "choices": [8, 10, 12, 14, 16]},
               "learning_rate": {"type": "float", "low": 0.003, "high": 0.03, "log": True},
               "optimizer": {"type": "categorical", "choices": ["adam", "sgd"]},
               "activation": {"type": "categorical", "choices": ["relu", "tanh"]}},
        fixed={"epochs": 1, "batch_size": 128, "patience": 0, "n_layers": 1},
        grid={"points": 5},
        search={"algorithm": "grid", "trials": PG_TRIALS},
    )
    submit(tmp_path, path, pg_url)
    procs = [start_cli(tmp_path, "worker", "--storage", pg_url, "--study", "grid100", "--workers", "1",
                       log=f"worker-{i}.log") for i in range(4)]
    codes = finish(procs)
    assert codes == [0, 0, 0, 0], [log_of(tmp_path, f"worker-{i}.log")[-2000:] for i in range(4)]

    trials = optuna.load_study(study_name="grid100", storage=get_storage(pg_url)).get_trials()
    assert [t.number for t in trials] == list(range(PG_TRIALS))  # contiguous, nothing beyond the budget
    assert all(t.state is OState.COMPLETE for t in trials)
    points = {json.dumps(t.params, sort_keys=True) for t in trials}
    assert len(points) == PG_TRIALS, "a grid point was trained twice"
    per_worker = {}
    for t in trials:
        daemon = t.user_attrs["worker"].rsplit("-s", 1)[0]  # host-pid of the `tuneforge worker`
        per_worker[daemon] = per_worker.get(daemon, 0) + 1
    assert len(per_worker) == 4, per_worker  # all four workers trained
    runs = study_runs(tracking(tmp_path), "grid100")
    assert set(runs.trials) == set(range(PG_TRIALS))
    assert all(r.info.status == "FINISHED" for r in runs.trials.values())
    assert runs.parent[0].info.status == "FINISHED"
    status = run_cli("status", "--storage", pg_url, cwd=tmp_path, env=cli_env(tmp_path))
    assert status.code == 0, status.stderr
    assert "grid100" in status.stdout and "done" in status.stdout and f"{PG_TRIALS}/{PG_TRIALS}" in status.stdout


SLOW_BUILDER = '''
import time

import keras

SECONDS = 5.0  # longer than the grace period below: each trial is "slow"


def build(config, input_shape, n_outputs):
    time.sleep(SECONDS)  # the main thread is busy; the heartbeat thread must keep beating
    inputs = keras.Input(shape=input_shape)
    x = keras.layers.Dense(int(config["units"]), activation="relu")(inputs)
    return keras.Model(inputs, keras.layers.Dense(n_outputs, activation="softmax")(x))
'''


def _running_with_heartbeat(url: str, name: str) -> list[tuple[int, str]]:
    """(number, worker) of RUNNING trials that have a heartbeat and their MLflow run id recorded."""
    engine = sqlalchemy.create_engine(url, poolclass=sqlalchemy.pool.NullPool)
    with engine.connect() as conn:
        rows = conn.execute(sqlalchemy.text(
            "SELECT t.number, a.value_json FROM trials t JOIN studies s ON s.study_id = t.study_id "
            "JOIN trial_heartbeats h ON h.trial_id = t.trial_id "
            "JOIN trial_user_attributes a ON a.trial_id = t.trial_id AND a.key = 'worker' "
            "JOIN trial_user_attributes r ON r.trial_id = t.trial_id AND r.key = 'mlflow_run_id' "
            "WHERE s.study_name = :name AND t.state = 'RUNNING'"), {"name": name}).all()
    engine.dispose()
    return [(n, json.loads(w)) for n, w in rows]


def test_kill_9_a_worker_its_trial_fails_by_heartbeat_and_is_retried_once(tmp_path, pg_url):
    (tmp_path / "slowmodel.py").write_text(SLOW_BUILDER)
    grace = 3
    path = write_study(tmp_path, "hb", model={"builder": "slowmodel:build"},
                       space={"units": {"type": "int", "low": 8, "high": 16},
                              "learning_rate": {"type": "float", "low": 1e-3, "high": 3e-2, "log": True}},
                       fixed={"epochs": 1, "batch_size": 128, "patience": 0},
                       search={"algorithm": "random", "trials": 4})
    submit(tmp_path, path, pg_url, "--heartbeat-interval", "1", "--grace-period", str(grace))
    victim = start_cli(tmp_path, "worker", "--storage", pg_url, "--study", "hb", "--workers", "1", "--trust-builders",
                       log="victim.log")
    target: dict[str, object] = {}

    def victim_is_training() -> bool:
        for number, worker in _running_with_heartbeat(pg_url, "hb"):
            if f"-{victim.pid}-s" in worker:
                target.update(number=number, worker=worker)
                return True
        return False

    wait_for(victim_is_training, what="the victim worker's trial with a heartbeat", procs=[victim])
    survivor = start_cli(tmp_path, "worker", "--storage", pg_url, "--study", "hb", "--workers", "2", "--trust-builders",
                         log="survivor.log")
    slot_processes = psutil.Process(victim.pid).children()
    for pid in [victim.pid, *(p.pid for p in slot_processes)]:  # the whole worker and its slots at once, as
        os.kill(pid, signal.SIGKILL)                             # when its machine dies: nothing cleans up
    victim.wait()
    psutil.wait_procs(slot_processes, timeout=30)
    assert not [p for p in slot_processes if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]

    assert survivor.wait(timeout=900) == 0, log_of(tmp_path, "survivor.log")[-3000:]
    trials = optuna.load_study(study_name="hb", storage=get_storage(pg_url)).get_trials()
    lost = trials[int(target["number"])]
    assert lost.state is OState.FAIL and "heartbeats" in lost.user_attrs["lost"]
    retries = [t for t in trials if t.system_attrs.get("failed_trial") == lost.number]
    assert len(retries) == 1, "exactly one retry copy"
    assert retries[0].state is OState.COMPLETE and retries[0].params == lost.params
    assert "-s" in retries[0].user_attrs["worker"] and f"-{survivor.pid}-s" in retries[0].user_attrs["worker"]
    # a slow but alive worker is never marked dead: every survivor trial outlived the grace period
    # while other slots checked for stale heartbeats, and none was failed
    survivor_trials = [t for t in trials if f"-{survivor.pid}-s" in t.user_attrs["worker"]
                       and "duplicate_of" not in t.user_attrs]  # a duplicate config reuses a result at once
    assert survivor_trials
    assert all((t.datetime_complete - t.datetime_start).total_seconds() > grace for t in survivor_trials)
    assert [t.number for t in trials if "lost" in t.user_attrs] == [lost.number]
    counted = [t for t in trials if "lost" not in t.user_attrs]
    assert len(counted) == 4 and all(t.state is OState.COMPLETE for t in counted)

    runs = study_runs(tracking(tmp_path), "hb")
    lost_run = runs.trials[lost.number]
    assert lost_run.info.status == "FAILED" and "heartbeats" in lost_run.data.tags["error"]
    assert all(r.info.status != "RUNNING" for r in [*runs.parent, *runs.trials.values()])
    assert "lost its worker" in log_of(tmp_path, "survivor.log")
