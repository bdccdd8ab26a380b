"""``tuneforge run`` as a user runs it: subprocesses, real storages, real MLflow, kill -9 and Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import optuna
import psutil
import pytest

from search.storage import get_storage
from tests._mlflow import study_runs
from tests._studies import write_study
from tests.conftest import ROOT, run_cli

pytestmark = pytest.mark.slow

POSTGRES_URL = os.environ.get("TUNEFORGE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def local_env(folder: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env["TUNEFORGE_HOME"] = str(folder / ".tuneforge")
    return env


def journal(folder: Path) -> str:
    return f"journal:{folder / '.tuneforge' / 'optuna.journal'}"


def tracking(folder: Path) -> str:
    return f"sqlite:///{folder / '.tuneforge' / 'mlflow.db'}"


def load(url: str, name: str) -> optuna.Study:
    return optuna.load_study(study_name=name, storage=get_storage(url))


def start_run(folder: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "search.cli", "run", *args], cwd=folder, env=local_env(folder),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(condition, timeout: float = 240, what: str = "condition") -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def check_no_run_left_running(folder: Path, experiment: str) -> None:
    runs = study_runs(tracking(folder), experiment)
    assert all(r.info.status != "RUNNING" for r in [*runs.parent, *runs.trials.values()])


def test_digits_study_end_to_end_with_two_workers(tmp_path):
    # refit: train retrains on the trial's own split, so the card's retrained value reproduces the trial's
    path = write_study(tmp_path, "e2e", search={"trials": 5, "workers": 2}, export={"refit": "train"})
    result = run_cli("run", str(path), cwd=tmp_path, env=local_env(tmp_path))
    assert result.code == 0, result.stderr[-3000:]
    assert "exported to" in result.stdout and "top " in result.stdout
    study = load(journal(tmp_path), "e2e")
    trials = study.get_trials()
    assert len(trials) == 5
    assert len({t.user_attrs["worker"] for t in trials}) == 2, "both workers should have trained"
    runs = study_runs(tracking(tmp_path), "e2e")
    assert len(runs.parent) == 1 and set(runs.trials) == {t.number for t in trials}
    for t in trials:
        run = runs.trials[t.number]
        assert run.data.tags["state"] == t.state.name
        assert len(runs.history(run, "val_accuracy")) == t.user_attrs["epochs"]
        if t.value is not None and t.state.name == "COMPLETE":
            assert run.data.metrics["objective"] == pytest.approx(t.value)
    parent = runs.parent[0]
    assert parent.info.status == "FINISHED"
    assert {"test_accuracy", "best_val_accuracy"} <= set(parent.data.metrics)
    assert parent.data.params["data_sha256"] and parent.data.params["algorithm"] == "tpe"
    card = json.loads((tmp_path / "models" / "e2e" / "model_card.json").read_text())
    assert card["trial"] == study.best_trial.number
    assert card["objective"]["retrained_value"] == pytest.approx(study.best_value, abs=1e-6)
    assert card["metrics"]["test"]["accuracy"] == pytest.approx(parent.data.metrics["test_accuracy"])
    status = run_cli("status", str(path), cwd=tmp_path, env=local_env(tmp_path))
    assert status.code == 0 and "5 complete" in status.stdout


def test_kill_9_a_worker_mid_trial_retries_its_trial(tmp_path):
    path = write_study(tmp_path, "killed", search={"trials": 4, "workers": 2, "algorithm": "random"},
                       fixed={"epochs": 12, "batch_size": 32, "patience": 0})
    proc = start_run(tmp_path, str(path), "--no-export")  # the export after a death: test_ray's node loss
    url = journal(tmp_path)
    victim: dict[str, object] = {}

    def running_trial_with_a_worker() -> bool:
        workers = {p.pid: p.cmdline() for p in psutil.Process(proc.pid).children() if "search.workers" in p.cmdline()}
        try:
            running = load(url, "killed").get_trials(states=(optuna.trial.TrialState.RUNNING,))
        except KeyError:
            return False
        for t in running:
            if "mlflow_run_id" not in t.user_attrs:
                continue
            for pid, cmd in workers.items():
                if t.user_attrs.get("worker") in cmd:
                    victim.update(pid=pid, number=t.number)
                    return True
        return False

    wait_for(running_trial_with_a_worker, what="a worker in the middle of a trial")
    os.kill(int(victim["pid"]), signal.SIGKILL)
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-3000:]
    assert "died (killed by SIGKILL)" in out
    trials = load(url, "killed").get_trials()
    lost = trials[int(victim["number"])]
    assert lost.state is optuna.trial.TrialState.FAIL and "lost" in lost.user_attrs
    retries = [t for t in trials if t.system_attrs.get("failed_trial") == lost.number]
    assert len(retries) == 1 and retries[0].state is optuna.trial.TrialState.COMPLETE
    assert retries[0].params == lost.params
    counted = [t for t in trials if "lost" not in t.user_attrs]
    assert len(counted) == 4 and all(t.state.is_finished() for t in counted)
    runs = study_runs(tracking(tmp_path), "killed")
    assert runs.trials[lost.number].info.status == "FAILED"
    assert "died" in runs.trials[lost.number].data.tags["error"]
    check_no_run_left_running(tmp_path, "killed")


def test_ctrl_c_fails_running_trials_and_a_later_run_resumes(tmp_path):
    # The signal must land while a trial runs. Waiting for "one complete, one running" was a race:
    # the other worker's trial had started with the first and could finish within the signal's way
    # in (1.2 s trials here; one suite run in a loaded fresh clone lost it). So wait for a trial that
    # started after the first one completed: it has a whole trial (60 epochs) still to run.
    path = write_study(tmp_path, "interrupted", search={"trials": 4, "workers": 2, "algorithm": "random"},
                       fixed={"epochs": 60, "batch_size": 32, "patience": 0})
    proc = start_run(tmp_path, str(path))
    url = journal(tmp_path)

    def a_trial_started_after_one_completed() -> bool:
        try:
            trials = load(url, "interrupted").get_trials()
        except KeyError:
            return False
        completed = [t.datetime_complete for t in trials if t.state is optuna.trial.TrialState.COMPLETE]
        return bool(completed) and any(t.state is optuna.trial.TrialState.RUNNING and t.datetime_start > min(completed)
                                       for t in trials)

    wait_for(a_trial_started_after_one_completed, what="a trial started after the first one completed")
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-3000:]
    assert "Traceback" not in err
    trials = load(url, "interrupted").get_trials()
    assert not [t for t in trials if t.state is optuna.trial.TrialState.RUNNING]
    assert [t for t in trials if "lost" in t.user_attrs], "the signal came after every trial had finished"
    check_no_run_left_running(tmp_path, "interrupted")

    result = run_cli("run", str(path), "--no-export", cwd=tmp_path, env=local_env(tmp_path))
    assert result.code == 0, result.stderr[-3000:]
    trials = load(url, "interrupted").get_trials()
    counted = [t for t in trials if "lost" not in t.user_attrs]
    assert len(counted) == 4 and all(t.state is optuna.trial.TrialState.COMPLETE for t in counted)
    configs = [json.dumps(t.params, sort_keys=True) for t in counted]
    assert len(set(configs)) == len(configs)
    for t in trials:
        if "lost" in t.user_attrs:  # each interrupted trial was retried once on resume
            assert [r.number for r in trials if r.system_attrs.get("failed_trial") == t.number]


def test_a_changed_study_under_the_same_name_is_refused_cleanly(tmp_path):
    path = write_study(tmp_path, "same-name", search={"trials": 1}, fixed={"epochs": 1, "batch_size": 64,
                                                                           "patience": 0})
    assert run_cli("run", str(path), "--no-export", cwd=tmp_path, env=local_env(tmp_path)).code == 0
    path.write_text(path.read_text().replace("high: 48", "high: 64"))
    result = run_cli("run", str(path), cwd=tmp_path, env=local_env(tmp_path))
    assert result.code == 2
    assert "Traceback" not in result.stderr
    assert "already exists" in result.stderr and "space (units)" in result.stderr
    assert len(load(journal(tmp_path), "same-name").get_trials()) == 1
    assert not workers_of(tmp_path)


def _postgres_or_fail() -> None:
    import sqlalchemy

    try:
        with sqlalchemy.create_engine(POSTGRES_URL).connect() as conn:
            conn.execute(sqlalchemy.text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL at {POSTGRES_URL} is unreachable in CI: {exc}")
        pytest.skip(f"PostgreSQL at {POSTGRES_URL} is unreachable: {exc}")


@pytest.mark.postgres
def test_two_workers_share_a_study_in_postgresql(tmp_path):
    _postgres_or_fail()
    name = f"pg-{uuid.uuid4().hex[:8]}"
    path = write_study(tmp_path, name, search={"trials": 6, "workers": 2, "algorithm": "random"})
    result = run_cli("run", str(path), "--storage", POSTGRES_URL, "--no-export", cwd=tmp_path,
                     env=local_env(tmp_path))
    assert result.code == 0, result.stderr[-3000:]
    try:
        trials = load(POSTGRES_URL, name).get_trials()
        assert len(trials) == 6 and all(t.state is optuna.trial.TrialState.COMPLETE for t in trials)
        assert [t.number for t in trials] == list(range(6))
        assert len({t.user_attrs["worker"] for t in trials}) == 2
        assert set(study_runs(tracking(tmp_path), name).trials) == set(range(6))
    finally:
        optuna.delete_study(study_name=name, storage=POSTGRES_URL)


def test_the_grid_engine_is_refused_by_run_and_pointed_to_compare(tmp_path):
    path = write_study(tmp_path, "gs", search={"engine": "grid", "algorithm": "grid", "trials": 1})
    result = run_cli("run", str(path), cwd=tmp_path, env=local_env(tmp_path))
    assert result.code == 2 and "Traceback" not in result.stderr
    assert "search.engine" in result.stderr and "tuneforge compare" in result.stderr
    assert not (tmp_path / ".tuneforge" / "optuna.journal").exists()


def workers_of(folder: Path) -> list[psutil.Process]:
    """Worker processes still alive whose TUNEFORGE_HOME is ``folder``'s."""
    home = str(folder / ".tuneforge")
    found = []
    for p in psutil.process_iter(["cmdline"]):
        try:
            if "search.workers" in (p.info["cmdline"] or []) and p.environ().get("TUNEFORGE_HOME") == home:
                found.append(p)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return found


def test_an_unreachable_tracking_server_is_one_clear_error(tmp_path):
    path = write_study(tmp_path, "no-server", search={"trials": 1, "workers": 2})
    result = run_cli("run", str(path), "--tracking-uri", "http://127.0.0.1:9", cwd=tmp_path, env=local_env(tmp_path),
                     timeout=120)
    assert result.code == 2 and "Traceback" not in result.stderr
    assert "tracking server http://127.0.0.1:9 does not answer" in result.stderr
    assert not workers_of(tmp_path)  # the workers started early (they import TensorFlow meanwhile) are gone too
