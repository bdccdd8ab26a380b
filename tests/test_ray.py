"""``tuneforge run --ray``: a real 2-node Ray cluster on this machine, real node loss, real kill -9.

The module starts one ``ray.cluster_utils.Cluster`` (two 1-CPU nodes, no dashboard; a node a test
removed is added back before the next test) and each test runs the CLI in a fresh interpreter as
the Ray driver. No GPU here: the GPU share is planned by
``search.executors._ray_plan`` (tests/test_ray_plan.py) and never ran on a card.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import optuna
import psutil
import pytest

from tests._mlflow import study_runs
from tests._studies import write_study
from tests.conftest import run_cli
from tests.test_run_cli import journal, load, local_env, tracking, wait_for

# Ray's token authentication stays on in these tests: Ray reads the mode once per process, so it is set
# before Ray is imported (no other test module imports Ray while being collected); the drivers the tests
# start inherit the token through their environment.
os.environ.setdefault("RAY_AUTH_MODE", "token")
os.environ.setdefault("RAY_AUTH_TOKEN", secrets.token_hex(32))
ray = pytest.importorskip("ray")
pytestmark = pytest.mark.slow

ACTOR = "ray::TrialWorker"


@pytest.fixture(scope="module")
def ray_cluster():
    """Two 1-CPU Ray nodes on this machine, token authentication on; shut down after the module."""
    from ray.cluster_utils import Cluster

    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    c.add_node(num_cpus=1)
    c.wait_for_nodes()
    yield c
    c.shutdown()


@pytest.fixture
def cluster(ray_cluster):
    """The module's cluster with two live nodes again (a test may have removed one)."""
    while len(ray_cluster.list_all_nodes()) < 2:
        ray_cluster.add_node(num_cpus=1)
    ray_cluster.wait_for_nodes()
    return ray_cluster


def actor_pids() -> set[int]:
    """PIDs of processes that are (or were) tuneforge worker actors, by Ray's process title."""
    pids = set()
    for p in psutil.process_iter(["pid", "cmdline"]):
        if any(ACTOR in part for part in (p.info["cmdline"] or [])):
            pids.add(p.info["pid"])
    return pids


def start_driver(folder: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "search.cli", "run", *args], cwd=folder, env=local_env(folder),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def serve_saved_model(folder: Path) -> list[int]:
    """Load the exported SavedModel in a fresh interpreter and classify three test digits."""
    code = ("import json, sys, numpy as np, tensorflow as tf\n"
            "from sklearn.datasets import load_digits\n"
            "card = json.load(open(sys.argv[1] + '/model_card.json'))\n"
            "m = tf.saved_model.load(sys.argv[1] + '/' + card['files']['saved_model'])\n"
            "x = load_digits().data[:3].astype('float32')\n"
            "out = list(m.signatures['serving_default'](features=tf.constant(x)).values())[0].numpy()\n"
            "print(' '.join(str(int(i)) for i in out.argmax(axis=1)))\n")
    proc = subprocess.run([sys.executable, "-c", code, str(folder)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return [int(v) for v in proc.stdout.split()]


def check_runs_finished(folder: Path, name: str, trials: list[optuna.trial.FrozenTrial]) -> None:
    runs = study_runs(tracking(folder), name)
    assert set(runs.trials) == {t.number for t in trials}, "every trial needs its MLflow run"
    assert all(r.info.status in ("FINISHED", "FAILED") for r in runs.trials.values())
    assert [r.info.status for r in runs.parent] == ["FINISHED"]


def test_a_study_survives_losing_a_ray_node(tmp_path, cluster):
    path = write_study(tmp_path, "ray-loss", search={"trials": 6, "workers": 2, "algorithm": "random"},
                       fixed={"epochs": 8, "batch_size": 32, "patience": 0})
    proc = start_driver(tmp_path, str(path), "--ray", cluster.address)
    url = journal(tmp_path)

    def one_done_and_both_busy() -> bool:
        try:
            trials = load(url, "ray-loss").get_trials(deepcopy=False)
        except KeyError:
            return False
        states = [t.state for t in trials]
        return states.count(optuna.trial.TrialState.COMPLETE) >= 1 and sum(
            1 for t in trials if t.state is optuna.trial.TrialState.RUNNING and "mlflow_run_id" in t.user_attrs) == 2

    wait_for(one_done_and_both_busy, what="a finished trial and both actors mid-trial")
    cluster.remove_node(cluster.list_all_nodes()[1])  # the non-head node: the driver stays connected
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-4000:]
    assert "was lost" in out
    trials = load(url, "ray-loss").get_trials()
    lost = [t for t in trials if "lost" in t.user_attrs]
    assert len(lost) == 1 and lost[0].state is optuna.trial.TrialState.FAIL
    retries = [t for t in trials if t.system_attrs.get("failed_trial") == lost[0].number]
    assert len(retries) == 1 and retries[0].state is optuna.trial.TrialState.COMPLETE
    assert retries[0].params == lost[0].params
    assert retries[0].user_attrs["worker"] != lost[0].user_attrs["worker"], "retried by another actor"
    counted = [t for t in trials if "lost" not in t.user_attrs]
    assert len(counted) == 6 and all(t.state.is_finished() for t in counted), "the budget is met exactly"
    assert not [t for t in trials if t.state is optuna.trial.TrialState.RUNNING]
    check_runs_finished(tmp_path, "ray-loss", trials)
    runs = study_runs(tracking(tmp_path), "ray-loss")
    assert runs.trials[lost[0].number].info.status == "FAILED"
    assert "was lost" in runs.trials[lost[0].number].data.tags["error"]
    assert len(serve_saved_model(tmp_path / "models" / "ray-loss")) == 3


def test_keras_tuner_study_on_a_ray_cluster(tmp_path, cluster):
    path = write_study(tmp_path, "ray-kt", search={"engine": "keras_tuner", "algorithm": "random", "pruner": "none",
                                                    "trials": 4, "workers": 2},
                       fixed={"epochs": 2, "batch_size": 64, "patience": 0})
    env = local_env(tmp_path)
    without_token = {k: v for k, v in env.items() if k != "RAY_AUTH_TOKEN"}
    refused = subprocess.run([sys.executable, "-m", "search.cli", "run", str(path), "--ray", cluster.address],
                             cwd=tmp_path, env={**without_token, "HOME": str(tmp_path / "home")},
                             capture_output=True, text=True, timeout=300)
    assert refused.returncode == 2 and "the cluster refused this run" in refused.stderr, refused.stderr[-2000:]
    assert "Traceback" not in refused.stderr and env["RAY_AUTH_TOKEN"] not in refused.stderr + refused.stdout
    result = run_cli("run", str(path), "--ray", cluster.address, cwd=tmp_path, env=env)
    assert result.code == 0, result.stderr[-4000:]
    trials = load(journal(tmp_path), "ray-kt").get_trials()
    assert len(trials) == 4 and all(t.state is optuna.trial.TrialState.COMPLETE for t in trials)
    assert len({t.user_attrs["worker"] for t in trials}) == 2, "both actors should have trained"
    check_runs_finished(tmp_path, "ray-kt", trials)
    assert len(serve_saved_model(tmp_path / "models" / "ray-kt")) == 3


def test_killing_the_driver_leaves_no_actor_training(tmp_path, cluster):
    path = write_study(tmp_path, "ray-kill", search={"trials": 20, "workers": 2, "algorithm": "random"},
                       fixed={"epochs": 30, "batch_size": 16, "patience": 0})
    before = actor_pids()
    proc = start_driver(tmp_path, str(path), "--ray", cluster.address)
    url = journal(tmp_path)

    def training() -> bool:
        try:
            running = load(url, "ray-kill").get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
        except KeyError:
            return False
        return len(running) == 2

    wait_for(training, what="both actors mid-trial")
    actors = actor_pids() - before
    assert len(actors) == 2, f"expected two worker actor processes, found {sorted(actors)}"
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)

    def alive() -> list[int]:
        left = []
        for pid in actors:
            try:
                if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                    left.append(pid)
            except psutil.NoSuchProcess:
                pass
        return left

    end = time.monotonic() + 10
    while alive() and time.monotonic() < end:
        time.sleep(0.2)
    assert alive() == [], f"actor processes still alive 10 s after the driver died: {alive()}"


BUILDER = '''
import os
import sys

import keras

SUBMITTED_FROM = {original!r}


def build(config, input_shape, n_outputs):
    here = os.path.dirname(os.path.abspath(__file__))
    in_actor = "ray" in sys.modules and sys.modules["ray"].is_initialized()  # the driver's export: Ray shut down
    if in_actor and here == SUBMITTED_FROM:  # an actor must import the job's shipped copy
        raise RuntimeError("the builder was imported from the submitter's folder, not the job's working_dir")
    inputs = keras.Input(shape=input_shape)
    x = keras.layers.Dense(int(config.get("units", [8])[0]), activation="relu")(inputs)
    return keras.Model(inputs, keras.layers.Dense(n_outputs, activation="softmax")(x))
'''


def test_a_custom_builder_travels_as_the_jobs_working_dir(tmp_path, cluster):
    module = f"shipped_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{module}.py").write_text(BUILDER.format(original=str(tmp_path)))
    path = write_study(tmp_path, "ray-ship", model={"builder": f"{module}:build"},
                       search={"trials": 2, "workers": 2, "algorithm": "random"},
                       fixed={"epochs": 2, "batch_size": 64, "patience": 0})
    result = run_cli("run", str(path), "--ray", cluster.address, cwd=tmp_path, env=local_env(tmp_path))
    assert result.code == 0, result.stderr[-4000:]
    trials = load(journal(tmp_path), "ray-ship").get_trials()
    assert [t.state for t in trials] == [optuna.trial.TrialState.COMPLETE] * 2, [t.user_attrs for t in trials]
