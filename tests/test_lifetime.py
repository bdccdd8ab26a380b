"""No process outlives the tuneforge process that started it: kill -9 and SIGTERM of the real
``tuneforge run``, ``tuneforge worker`` and ``tuneforge compare``, descendants counted by PID.

After the signal every descendant must be gone within 10 s; then the storages are
read (no RUNNING trial once the workers stopped, no MLflow run left RUNNING after the
next run or, for SIGTERM, at once: the parent run ends KILLED before the process exits).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import psutil
import pytest

from search.storage import get_storage
from tests._mlflow import study_runs
from tests._studies import write_study
from tests.conftest import run_cli
from tests.test_run_cli import journal, local_env, tracking

pytestmark = pytest.mark.slow
OState = optuna.trial.TrialState
GONE_WITHIN = 10.0



def start(folder: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "search.cli", *args], cwd=folder, env=local_env(folder),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def wait_for(condition, *, proc: subprocess.Popen, timeout: float = 300, what: str = "condition") -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return
        assert proc.poll() is None, f"exited ({proc.returncode}) waiting for {what}: {proc.stderr.read()[-2000:]}"
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def alive(procs: list[psutil.Process]) -> list[psutil.Process]:
    left = []
    for p in procs:
        try:
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                left.append(p)
        except psutil.NoSuchProcess:
            pass
    return left


def assert_all_gone(procs: list[psutil.Process]) -> None:
    end = time.monotonic() + GONE_WITHIN
    while alive(procs) and time.monotonic() < end:
        time.sleep(0.2)
    left = alive(procs)
    for p in left:  # never leave them behind for the next test
        p.kill()
    assert not left, f"still running {GONE_WITHIN:.0f} s after the signal: {[(p.pid, p.cmdline()) for p in left]}"


def running_trials(url: str, name: str) -> list[optuna.trial.FrozenTrial]:
    try:
        return optuna.load_study(study_name=name, storage=get_storage(url)).get_trials(states=(OState.RUNNING,))
    except KeyError:
        return []


def stop(proc: subprocess.Popen, signum: int) -> list[psutil.Process]:
    """Send ``signum`` to ``proc``; returns its descendants as they were just before."""
    descendants = psutil.Process(proc.pid).children(recursive=True)
    assert descendants, "it had started no process"
    proc.send_signal(signum)
    proc.wait(timeout=120)
    return descendants


HOLD_BUILDER = """
import time
from pathlib import Path

import keras

HOLD = Path(__file__).with_name("hold")


def build(config, input_shape, n_outputs):
    if HOLD.exists():  # the test keeps the trial here, in training, until it has stopped the worker
        Path(__file__).with_name("holding").touch()
        end = time.monotonic() + 120
        while HOLD.exists() and time.monotonic() < end:
            time.sleep(0.1)
    inputs = keras.Input(shape=input_shape)
    x = keras.layers.Dense(int(config["units"]), activation="relu")(inputs)
    return keras.Model(inputs, keras.layers.Dense(n_outputs, activation="softmax")(x))
"""


def held_study(folder: Path, name: str, **search: object) -> Path:
    """A study whose trials wait in their builder while ``folder/hold`` exists (a trial is surely
    in training when the signal comes, however fast the machine)."""
    (folder / "holdbuild.py").write_text(HOLD_BUILDER)
    (folder / "hold").touch()
    return write_study(folder, name, search={"trials": 3, "algorithm": "random", **search},
                       model={"builder": "holdbuild:build"},
                       space={"units": {"type": "int", "low": 8, "high": 32}},
                       fixed={"epochs": 2, "batch_size": 64, "patience": 0})


def held_in_training(folder: Path, url: str, name: str) -> bool:
    return (folder / "holding").exists() and any("mlflow_run_id" in t.user_attrs for t in running_trials(url, name))


def release(folder: Path) -> None:
    (folder / "hold").unlink()


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGTERM], ids=["kill-9", "sigterm"])
def test_stopping_run_leaves_no_worker_and_the_next_run_retries(tmp_path, signum):
    name = f"stopped-{int(signum)}"
    path = held_study(tmp_path, name, workers=2)
    proc = start(tmp_path, "run", str(path), "--no-export")
    url = journal(tmp_path)
    wait_for(lambda: held_in_training(tmp_path, url, name), proc=proc, what="a trial in training")
    descendants = stop(proc, signum)
    release(tmp_path)
    assert proc.returncode == (-signal.SIGKILL if signum == signal.SIGKILL else 130), proc.stderr.read()[-2000:]
    assert_all_gone(descendants)
    if signum == signal.SIGTERM:
        assert running_trials(url, name) == []  # failed (and queued for retry) before the run exited
        (parent,) = study_runs(tracking(tmp_path), name).parent
        assert parent.info.status == "KILLED"
        assert "Traceback" not in proc.stderr.read()

    result = run_cli("run", str(path), "--no-export", "--trials", "3", cwd=tmp_path, env=local_env(tmp_path))
    assert result.code == 0, result.stderr[-3000:]
    trials = optuna.load_study(study_name=name, storage=get_storage(url)).get_trials()
    lost = [t for t in trials if "lost" in t.user_attrs]
    assert lost and all(t.state is OState.FAIL for t in lost)
    for t in lost:
        assert [r.number for r in trials if r.system_attrs.get("failed_trial") == t.number]
    counted = [t for t in trials if "lost" not in t.user_attrs]
    assert len(counted) == 3 and all(t.state is OState.COMPLETE for t in counted)
    runs = study_runs(tracking(tmp_path), name)
    assert [r.info.status for r in [*runs.parent, *runs.trials.values()] if r.info.status == "RUNNING"] == []


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGTERM], ids=["kill-9", "sigterm"])
def test_stopping_compare_leaves_no_pool_worker(tmp_path, signum):
    path = write_study(tmp_path, "cmp", space={"n_layers": {"type": "int", "low": 1, "high": 2},
                                               "units": {"type": "categorical", "choices": [8, 16, 24]}},
                       fixed={"epochs": 40, "batch_size": 16, "patience": 0}, grid={"points": 2})
    uri = tracking(tmp_path)
    proc = start(tmp_path, "compare", str(path), "--strategies", "grid", "--repeats", "1", "--workers", "2",
                 "--tracking-uri", uri)
    fits = tmp_path / ".tuneforge" / "compare" / "cmp" / "fits"

    def pool_is_fitting() -> bool:
        return any(f.stat().st_size for f in fits.glob("*.jsonl")) if fits.is_dir() else False

    wait_for(pool_is_fitting, proc=proc, what="the pool's first fit")
    descendants = stop(proc, signum)
    assert len(descendants) >= 2
    assert_all_gone(descendants)
    if signum == signal.SIGTERM:
        from mlflow import MlflowClient

        client = MlflowClient(tracking_uri=uri)
        runs = client.search_runs([client.get_experiment_by_name("cmp").experiment_id])
        assert runs and all(r.info.status != "RUNNING" for r in runs)


@pytest.mark.postgres
@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGTERM], ids=["kill-9", "sigterm"])
def test_stopping_worker_leaves_no_slot_process_and_the_next_worker_retries(tmp_path, signum):
    from tests._postgres import cli_env, fresh_database_url

    urls = fresh_database_url()
    url = next(urls)
    try:
        uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
        path = held_study(tmp_path, "served")
        env = cli_env(tmp_path)
        result = run_cli("submit", str(path), "--storage", url, "--tracking-uri", uri, "--heartbeat-interval", "1",
                         "--grace-period", "3", cwd=tmp_path, env=env)
        assert result.code == 0, result.stderr[-2000:]
        proc = subprocess.Popen([sys.executable, "-m", "search.cli", "worker", "--storage", url, "--study", "served",
                                 "--workers", "2", "--trust-builders"], cwd=tmp_path, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        wait_for(lambda: held_in_training(tmp_path, url, "served"), proc=proc, what="a trial in training")
        descendants = stop(proc, signum)
        release(tmp_path)
        assert_all_gone(descendants)
        if signum == signal.SIGTERM:
            assert proc.returncode == 130 and running_trials(url, "served") == []
        time.sleep(4)  # past the grace period: a killed slot's trial is failed by the next worker
        result = run_cli("worker", "--storage", url, "--study", "served", "--workers", "1", "--trust-builders",
                         cwd=tmp_path, env=env)
        assert result.code == 0, result.stderr[-3000:]
        trials = optuna.load_study(study_name="served", storage=get_storage(url)).get_trials()
        lost = [t for t in trials if "lost" in t.user_attrs]
        assert lost and all([r for r in trials if r.system_attrs.get("failed_trial") == t.number] for t in lost), [
            (t.number, t.state.name, t.user_attrs.get("lost"), t.system_attrs.get("failed_trial")) for t in trials]
        counted = [t for t in trials if "lost" not in t.user_attrs]
        assert len(counted) == 3 and all(t.state is OState.COMPLETE for t in counted)
        runs = study_runs(uri, "served")
        assert [r for r in [*runs.parent, *runs.trials.values()] if r.info.status == "RUNNING"] == []
    finally:
        urls.close()
