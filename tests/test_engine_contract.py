"""One contract, every engine: the same study runs, logs every trial, exports a loadable model, resumes.

Each case runs the real CLI on digits (tiny widths, 3 epochs): 2 trials (with the export,
once per engine), then, for each kind of engine state, resumed to 3 trials. The assertions do not depend on the engine.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import optuna
import pytest

from search.storage import get_storage
from tests._mlflow import study_runs
from tests._studies import write_study
from tests.conftest import run_cli
from tests.test_run_cli import journal, local_env, tracking

pytestmark = pytest.mark.slow

# The export reads only the finished trials, whatever engine produced them: it is checked once per engine
# (a SavedModel saved and loaded costs about 10 s); the other cases run with --no-export. A resume reloads
# the engine's own state: Optuna's (one path for every sampler) once, each Keras Tuner oracle's own kind;
# the random cases resume like their engine's other algorithms and skip the second run (about 20 s each).
ENGINES = [
    ("optuna", "tpe", "hyperband", True, True),
    ("optuna", "random", "none", False, False),
    ("keras_tuner", "random", "none", False, False),
    ("keras_tuner", "bayesian", "none", True, True),
    ("keras_tuner", "hyperband", "none", False, True),
]


def ledger(folder: Path, name: str) -> list[optuna.trial.FrozenTrial]:
    return optuna.load_study(study_name=name, storage=get_storage(journal(folder))).get_trials()


def check_every_trial_logged(folder: Path, name: str, trials: list[optuna.trial.FrozenTrial]) -> None:
    runs = study_runs(tracking(folder), name)
    assert len(runs.parent) == 1, "one parent run per study, also after a resume"
    assert set(runs.trials) == {t.number for t in trials}, "one MLflow run per trial"
    for t in trials:
        run = runs.trials[t.number]
        assert run.data.tags["mlflow.parentRunId"] == runs.parent[0].info.run_id
        assert run.data.tags["state"] == t.state.name
        assert run.info.status == {"COMPLETE": "FINISHED", "PRUNED": "FINISHED", "FAIL": "FAILED"}[t.state.name]
        assert len(runs.history(run, "val_accuracy")) == t.user_attrs["epochs"]
        assert [m.step for m in runs.client.get_metric_history(run.info.run_id, "loss")] == list(
            range(t.user_attrs["epochs"]))
        config = json.loads(t.user_attrs["config"])
        assert run.data.params == {k: v if isinstance(v, str) else json.dumps(v) for k, v in config.items()}
        if t.state is optuna.trial.TrialState.COMPLETE:
            assert run.data.metrics["objective"] == pytest.approx(t.value)


def check_export(folder: Path, name: str, path: Path, trials: list[optuna.trial.FrozenTrial]) -> None:
    """A loadable SavedModel that reproduces the best trial's recorded test accuracy."""
    from search.driver import dataset_for
    from search.spec import load_study
    from tracking.export import load_serving, read_card

    export = folder / "models" / name
    card = read_card(export)
    best = max((t for t in trials if t.state is optuna.trial.TrialState.COMPLETE), key=lambda t: t.value)
    assert card["trial"] == best.number
    assert card["objective"]["retrained_value"] == pytest.approx(best.value, abs=1e-6)
    data = dataset_for(load_study(path))
    predict = load_serving(export)
    accuracy = float(np.mean(np.argmax(predict(data.x_test), axis=1) == data.y_test))
    assert accuracy == pytest.approx(card["metrics"]["test"]["accuracy"], abs=1e-4)


@pytest.mark.parametrize(("engine", "algorithm", "pruner", "export", "resume"), ENGINES,
                         ids=[f"{e}-{a}" for e, a, *_ in ENGINES])
def test_engine_contract(tmp_path, engine, algorithm, pruner, export, resume):
    name = f"contract-{engine}-{algorithm}".replace("_", "-")
    path = write_study(tmp_path, name, search={"engine": engine, "algorithm": algorithm, "pruner": pruner,
                                               "trials": 2, "workers": 1, "seed": 5},
                       export={"refit": "train"})  # the export reproduces the trial's own model
    first = run_cli("run", str(path), *([] if export else ["--no-export"]), cwd=tmp_path, env=local_env(tmp_path))
    assert first.code == 0, first.stderr[-3000:]
    assert f"{engine}/{algorithm}" in first.stderr  # the header line, with the progress, on stderr

    # completes: the budget, every trial finished
    trials = ledger(tmp_path, name)
    assert [t.number for t in trials] == [0, 1]
    assert all(t.state.is_finished() for t in trials)
    assert any(t.state is optuna.trial.TrialState.COMPLETE for t in trials)
    check_every_trial_logged(tmp_path, name, trials)

    if export:
        check_export(tmp_path, name, path, trials)

    # nothing of the engine's own lands in the working directory
    expected = [path.name, ".tuneforge", *(["models"] if export else [])]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(expected)

    if not resume:
        return
    # resumes: same trials kept, numbering continues, the budget counts them
    again = run_cli("run", str(path), "--trials", "3", "--no-export", cwd=tmp_path, env=local_env(tmp_path))
    assert again.code == 0, again.stderr[-3000:]
    resumed = ledger(tmp_path, name)
    assert [t.number for t in resumed] == [0, 1, 2]
    assert [(t.params, t.value) for t in resumed[:2]] == [(t.params, t.value) for t in trials]
    assert all(t.state.is_finished() for t in resumed)
    check_every_trial_logged(tmp_path, name, resumed)


# --- the methods themselves, in-process, for every engine -------------------------------------------------

WORKER_CALLS = ["for_plan", "ask", "set_attrs", "report", "finish", "finish_lost", "trials", "best"]


@pytest.mark.parametrize("engine", ["optuna", "keras_tuner"])
def test_every_method_the_worker_and_the_executor_call(tmp_path, monkeypatch, engine):
    """make_engine, then each call the worker loop makes (ask, set_attrs, report, finish, finish_lost, trials,
    best) and what the executor uses (the capabilities, the chief's hooks, recovery in the ledger)."""
    import inspect

    from search.data import dataset_for
    from search.driver import prepare_run
    from search.engines import Engine, engine_class, make_engine
    from search.executors import Executor
    from search.spec import load_study
    from spaces.core import TrialState

    monkeypatch.setenv("TUNEFORGE_HOME", str(tmp_path / ".tuneforge"))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert all(name in vars(Engine) for name in WORKER_CALLS)
    algorithm = "random"
    path = write_study(tmp_path, f"calls-{engine}".replace("_", "-"),
                       search={"engine": engine, "algorithm": algorithm, "trials": 2, "workers": 1, "seed": 3})
    study = load_study(path)
    cls = engine_class(study)
    plan = prepare_run(study, storage_url=journal(tmp_path), tracking_uri=tracking(tmp_path), trials=None,
                       timeout=None, seed=None, workers=1, data_sha256=dataset_for(study).info.sha256)
    chief = cls.start_chief(study, plan)
    assert (chief is not None) == cls.needs_chief
    try:
        if chief is not None:
            hooks = chief.executor_hooks()
            assert set(hooks) <= set(inspect.signature(Executor.run).parameters)
            for key, value in hooks["worker_env"](0).items():  # what the executor gives worker 0
                monkeypatch.setenv(key, value)
        eng = make_engine(study, plan, worker="w-0", index=0)
        assert isinstance(eng, cls) and eng.direction == study.direction

        first = eng.ask()
        assert first is not None and set(first.config) >= {"learning_rate", "optimizer"}
        eng.set_attrs(first, {"mlflow_run_id": "run-a"})
        eng.report(first, 0, {study.metric: 0.25, "loss": 1.0})
        eng.finish(first, TrialState.COMPLETE, 0.25, {"epochs": 1})

        lost = eng.ask()
        eng.finish_lost(lost, "interrupted")
        retry = eng.ask()
        assert retry is not None and retry.retry_of == lost.number  # a lost trial is retried once...
        eng.finish(retry, TrialState.FAIL, None, {"error": "boom"})
        assert eng.ask() is None  # ...and does not count toward the budget of 2

        records = eng.trials()
        assert [(r.number, r.state) for r in records] == [
            (first.number, TrialState.COMPLETE), (lost.number, TrialState.FAIL), (retry.number, TrialState.FAIL)]
        assert records[0].attrs["mlflow_run_id"] == "run-a" and records[1].attrs["lost"] == "interrupted"
        assert eng.best().number == first.number and eng.best().value == pytest.approx(0.25)
        assert cls.resume_key(study).startswith(engine)
    finally:
        if chief is not None:
            chief.stop()
