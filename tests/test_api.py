"""``search.run`` / ``search.compare`` from Python, as a notebook calls them: real workers, storage, MLflow."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import psutil
import pytest

from search.storage import get_storage
from tests.conftest import ROOT

pytestmark = pytest.mark.slow


def wine_csv(folder: Path) -> Path:
    from sklearn.datasets import load_wine

    frame = load_wine(as_frame=True).frame
    path = folder / "wine.csv"
    frame.to_csv(path, index=False)
    return path


def test_import_search_is_cheap() -> None:
    code = ("import sys, search; search.run; callable(search.compare); "
            "print(sorted(m for m in ('tensorflow', 'optuna', 'mlflow', 'pandas') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "[]"


def test_run_a_dict_study_on_a_csv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import search

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TUNEFORGE_HOME", str(tmp_path / ".tuneforge"))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    csv = wine_csv(tmp_path)
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    result = search.run({
        "name": "wine-api",
        "data": {"dataset": {"csv": str(csv), "target": "target"}, "validation": 0.25, "test": 0.2, "seed": 1},
        "space": {"units": {"type": "int", "low": 4, "high": 32, "log": True},
                  "learning_rate": {"type": "float", "low": 3e-3, "high": 3e-2, "log": True}},
        "fixed": {"n_layers": 1, "epochs": 4, "batch_size": 32, "patience": 0},
        "search": {"pruner": "none", "seed": 3},
    }, trials=3, workers=1, storage=storage, export_dir=str(tmp_path / "model"), progress=False)

    frame = result.trials
    assert isinstance(frame, pd.DataFrame)
    assert list(frame.columns) == ["number", "state", "value", "params", "epochs"]
    assert len(frame) == 3 and list(frame["number"]) == [0, 1, 2]
    assert set(frame["state"]) == {"COMPLETE"} and all(frame["epochs"] == 4)
    assert {"units", "learning_rate"} <= set(frame["params"][0])

    stored = optuna.load_study(study_name="wine-api", storage=get_storage(storage))
    assert result.best is not None
    assert result.best.value == stored.best_value
    assert stored.trials[result.best.number].value == stored.best_value
    assert result.best.config["units"] == stored.trials[result.best.number].params["units"]
    assert set(result.test) >= {"accuracy", "loss"} and 0.0 <= result.test["accuracy"] <= 1.0
    assert result.export_dir == tmp_path / "model" and (result.export_dir / "model_card.json").is_file()
    assert "wine-api" in repr(result)
    me = psutil.Process(os.getpid())
    assert [c.pid for c in me.children(recursive=True) if c.is_running()
            and c.status() != psutil.STATUS_ZOMBIE] == []


def test_unknown_override_names_it() -> None:
    import search
    from spaces import TuneforgeError

    with pytest.raises(TuneforgeError, match="unknown option 'trails'.*did you mean 'trials'"):
        search.run({"name": "x", "space": {"units": {"type": "int", "low": 4, "high": 8}}}, trails=3)


def test_compare_from_python(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import search

    monkeypatch.setenv("TUNEFORGE_HOME", str(tmp_path / ".tuneforge"))
    comparison = search.compare({
        "name": "api-compare",
        "data": {"dataset": "iris", "validation": 0.25, "test": 0.2, "seed": 1},
        "space": {"units": {"type": "categorical", "choices": [4, 8]},
                  "learning_rate": {"type": "float", "low": 1e-2, "high": 5e-2, "log": True, "grid": [0.02]}},
        "fixed": {"n_layers": 1, "epochs": 2, "batch_size": 32, "patience": 0},
    }, strategies=["grid", "random"], repeats=1, workers=1, report_dir=str(tmp_path / "report"),
        tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    assert [row["strategy"] for row in comparison.summary] == ["grid", "random"]
    assert all(row["fits"] == 2 for row in comparison.summary)
    assert all(path.is_file() for path in comparison.files)
    assert comparison.parent_run_id


INTERRUPTING_BUILDER = """
import os
import signal
from pathlib import Path

import keras

TRIGGER = Path(__file__).with_name("interrupt-at")


def build(config, input_shape, n_outputs):
    if TRIGGER.exists() and int(TRIGGER.read_text()) == len(list(Path(__file__).parent.glob("built-*"))):
        os.kill(os.getpid(), signal.SIGINT)  # the notebook's stop button, in the middle of a trial
    Path(__file__).with_name(f"built-{os.urandom(4).hex()}").touch()
    inputs = keras.Input(shape=input_shape)
    x = keras.layers.Dense(int(config["units"]), activation="relu")(inputs)
    return keras.Model(inputs, keras.layers.Dense(n_outputs, activation="softmax")(x))
"""


def _children_while(action) -> tuple[object, set[str]]:
    """``action()``'s result and the command lines of the tuneforge processes (workers, CLI) this process
    started while it ran, sampled every 0.1 s. Other children (a process pool an earlier test left in this
    test process) are not counted."""
    import threading

    def children() -> set[str]:
        found = set()
        for child in me.children(recursive=True):
            try:
                command = " ".join(child.cmdline())
            except psutil.Error:
                continue
            if "search.workers" in command or "search.cli" in command:
                found.add(command)
        return found

    me, done = psutil.Process(os.getpid()), threading.Event()
    before, seen = children(), set()

    def sample() -> None:
        while not done.is_set():
            seen.update(children() - before)
            done.wait(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        return action(), seen
    finally:
        done.set()
        sampler.join()


def test_inline_runs_in_this_process_and_ctrl_c_leaves_a_retry_the_next_run_trains(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``executor="inline"``: no worker process; a real SIGINT mid-trial fails that trial, queues its retry and
    kills the study's MLflow run; the next run (same process, TensorFlow already loaded) trains the retry."""
    import signal

    import search
    from tests._mlflow import study_runs

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TUNEFORGE_HOME", str(tmp_path / ".tuneforge"))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    (tmp_path / "interruptbuild.py").write_text(INTERRUPTING_BUILDER)
    (tmp_path / "interrupt-at").write_text("1")  # the second trial's build
    study = {
        "name": "inline",
        "data": {"dataset": "iris", "validation": 0.25, "test": 0.2, "seed": 1},
        "model": {"builder": "interruptbuild:build"},
        "space": {"units": {"type": "int", "low": 4, "high": 16}},
        "fixed": {"n_layers": 1, "epochs": 2, "batch_size": 32, "patience": 0},
        "search": {"algorithm": "random", "pruner": "none", "seed": 3},
    }
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)  # a notebook's Ctrl-C raises
    try:
        with pytest.raises(KeyboardInterrupt):
            _children_while(lambda: search.run(study, trials=3, executor="inline", export=False, progress=False))
    finally:
        signal.signal(signal.SIGINT, previous)

    storage = get_storage(f"journal:{tmp_path / '.tuneforge' / 'optuna.journal'}")
    trials = optuna.load_study(study_name="inline", storage=storage).get_trials()
    assert [(t.number, t.state.name, t.user_attrs.get("lost")) for t in trials] == [
        (0, "COMPLETE", None), (1, "FAIL", "interrupted"), (2, "WAITING", None)]
    assert trials[2].system_attrs["failed_trial"] == 1
    tracking = f"sqlite:///{tmp_path / '.tuneforge' / 'mlflow.db'}"
    runs = study_runs(tracking, "inline")
    assert [r.info.status for r in runs.parent] == ["KILLED"]
    assert {n: r.info.status for n, r in runs.trials.items()} == {0: "FINISHED", 1: "FAILED"}

    (tmp_path / "interrupt-at").unlink()
    result, children = _children_while(lambda: search.run(study, trials=3, executor="inline", progress=False,
                                                          export_dir=str(tmp_path / "model")))
    assert children == set(), "the inline executor started a worker process"
    assert list(result.trials["number"]) == [0, 1, 2, 3]
    assert list(result.trials["state"]) == ["COMPLETE", "FAIL", "COMPLETE", "COMPLETE"]
    assert optuna.load_study(study_name="inline", storage=storage).trials[2].system_attrs["failed_trial"] == 1
    runs = study_runs(tracking, "inline")
    assert [r.info.status for r in runs.parent] == ["FINISHED"]  # the same parent run, resumed and ended
    assert set(runs.trials) == {0, 1, 2, 3}
    from sklearn.datasets import load_iris

    from tracking.export import load_serving

    assert set(result.test) >= {"accuracy", "loss"}
    probabilities = np.asarray(load_serving(result.export_dir)(load_iris().data[:5].astype("float32")))
    assert probabilities.shape == (5, 3) and np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-4)


def test_inline_refuses_gpu_options_and_plans_no_slots(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The inline executor starts no worker process, so no slot plan is made (no ``nvidia-smi`` probe) and
    ``gpus``/``trials_per_gpu`` are refused before anything is written, not silently ignored."""
    import search
    import search.driver._executor as chooser
    from spaces.core import SpecError

    monkeypatch.setenv("TUNEFORGE_HOME", str(tmp_path / ".tuneforge"))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    planned: list[object] = []
    real_run_slots = chooser.run_slots
    monkeypatch.setattr(chooser, "run_slots", lambda *a, **k: planned.append(k) or real_run_slots(*a, **k))
    study = {"name": "inline-gpus", "data": {"dataset": "iris", "test": 0.2, "seed": 1},
             "space": {"units": {"type": "int", "low": 4, "high": 8}}, "fixed": {"epochs": 1}}
    for option in ({"gpus": "0"}, {"trials_per_gpu": 2}):
        with pytest.raises(SpecError, match="executor='inline' starts none") as caught:
            search.run(study, trials=1, executor="inline", export=False, progress=False, **option)
        assert caught.value.path == (next(iter(option)),)
    journal = get_storage(f"journal:{tmp_path / '.tuneforge' / 'optuna.journal'}")
    assert optuna.get_all_study_names(journal) == []  # refused before the study was created
    result = search.run(study, trials=1, executor="inline", export=False, progress=False)
    assert list(result.trials["state"]) == ["COMPLETE"] and planned == []


def test_inline_runs_a_keras_tuner_study_with_its_chief(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The Keras Tuner engine needs a chief (its oracle) and hands the worker its address in the environment:
    inline, the worker is this process, so the address is set for the run and removed after it (the log-level
    variables tuneforge sets for MLflow stay, as they would after any run in this process)."""
    import search
    from tests._mlflow import study_runs

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TUNEFORGE_HOME", str(tmp_path / ".tuneforge"))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert not [key for key in os.environ if key.startswith("KERASTUNER_")]
    result = search.run({
        "name": "inline-kt",
        "data": {"dataset": "iris", "validation": 0.25, "test": 0.2, "seed": 1},
        "space": {"units": {"type": "int", "low": 4, "high": 16}},
        "fixed": {"n_layers": 1, "epochs": 2, "batch_size": 32, "patience": 0},
        "search": {"engine": "keras_tuner", "algorithm": "bayesian", "seed": 3},
    }, trials=2, executor="inline", export=False, progress=False)
    assert list(result.trials["state"]) == ["COMPLETE", "COMPLETE"]
    assert not [key for key in os.environ if key.startswith("KERASTUNER_")]  # the chief's address was the run's
    runs = study_runs(f"sqlite:///{tmp_path / '.tuneforge' / 'mlflow.db'}", "inline-kt")
    assert set(runs.trials) == {0, 1} and [r.info.status for r in runs.parent] == ["FINISHED"]


KERNEL = """
import sys, search
search.run(sys.argv[1], trials=2, executor="inline", export=False, progress=False)
"""


def test_a_kernel_killed_mid_trial_leaves_a_trial_the_next_inline_run_retries(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A notebook kernel killed (kill -9) during an inline trial: nothing else knew of that trial, so the next
    inline run fails it as lost, queues its retry and trains it; the budget is still met."""
    import signal
    import time

    import search
    from tests.test_lifetime import held_study, release

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TUNEFORGE_HOME", str(tmp_path / ".tuneforge"))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    path = held_study(tmp_path, "kernel", trials=2)  # its trials wait in their builder while `hold` exists
    kernel = subprocess.Popen([sys.executable, "-c", KERNEL, str(path)], cwd=tmp_path, env=dict(os.environ),
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    end = time.monotonic() + 300
    while not (tmp_path / "holding").exists():
        assert kernel.poll() is None and time.monotonic() < end, kernel.stderr.read()[-3000:]
        time.sleep(0.2)
    kernel.send_signal(signal.SIGKILL)
    kernel.wait()
    release(tmp_path)
    storage = get_storage(f"journal:{tmp_path / '.tuneforge' / 'optuna.journal'}")
    assert [t.state.name for t in optuna.load_study(study_name="kernel", storage=storage).get_trials()] == ["RUNNING"]

    result = search.run(str(path), trials=2, executor="inline", export=False, progress=False)
    trials = optuna.load_study(study_name="kernel", storage=storage).get_trials()
    assert [(t.state.name, t.user_attrs.get("lost") is not None) for t in trials] == [
        ("FAIL", True), ("COMPLETE", False), ("COMPLETE", False)]
    assert trials[1].system_attrs["failed_trial"] == 0  # the killed trial's retry, trained first
    assert list(result.trials["state"]) == ["FAIL", "COMPLETE", "COMPLETE"]
