"""The Optuna engine in-process: every algorithm and pruner, budgets, grid, resume, determinism."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
import pytest

from search.storage import get_storage, resolve_storage_url
from search.driver import dataset_for, prepare_run
from search.spec import load_study
from spaces.core import TrialState
from search.workers._worker import work
from tests._mlflow import study_runs
from tests._studies import write_study
from spaces.core import resolve_tracking_uri

pytestmark = pytest.mark.slow


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("TUNEFORGE_HOME", str(tmp_path / ".tuneforge"))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return tmp_path


def run_in_process(path: Path, *, trials: int | None = None, seed: int | None = None) -> optuna.Study:
    study = load_study(path)
    plan = prepare_run(study, storage_url=resolve_storage_url(None), tracking_uri=resolve_tracking_uri(None),
                       trials=trials, timeout=None, seed=seed, workers=1,
                       data_sha256=dataset_for(study).info.sha256)
    work(plan, "test-worker", 0)
    return optuna.load_study(study_name=study.name, storage=get_storage(plan.storage_url))


def check_mlflow_agrees(study: optuna.Study, experiment: str) -> None:
    runs = study_runs(resolve_tracking_uri(None), experiment)
    assert len(runs.parent) == 1
    trials = study.get_trials()
    assert set(runs.trials) == {t.number for t in trials}
    for t in trials:
        run = runs.trials[t.number]
        assert run.data.tags["mlflow.parentRunId"] == runs.parent[0].info.run_id
        assert run.data.tags["state"] == t.state.name
        expected_status = {"COMPLETE": "FINISHED", "PRUNED": "FINISHED", "FAIL": "FAILED"}[t.state.name]
        assert run.info.status == expected_status
        epochs = t.user_attrs["epochs"]
        assert len(runs.history(run, "val_accuracy")) == epochs
        assert len(runs.history(run, "loss")) == epochs
        assert [m.step for m in runs.client.get_metric_history(run.info.run_id, "val_loss")] == list(range(epochs))
        if t.state is optuna.trial.TrialState.COMPLETE:
            assert run.data.metrics["objective"] == pytest.approx(t.value)
        config = json.loads(t.user_attrs["config"])
        assert run.data.params == {k: v if isinstance(v, str) else json.dumps(v) for k, v in config.items()}


@pytest.mark.parametrize("algorithm", ["tpe", "random", "cmaes", "qmc", "grid", "gp"])
def test_each_algorithm_runs_a_study(home, algorithm):
    if algorithm == "gp":
        pytest.importorskip("torch", reason="the gp algorithm needs PyTorch (pip install 'tuneforge[gp]')")
    space = None
    if algorithm == "grid":
        space = {"n_layers": {"type": "int", "low": 1, "high": 2}, "units": {"type": "int", "low": 8, "high": 16,
                 "per_layer": "n_layers", "grid": [8, 16]}}
    path = write_study(home, f"algo-{algorithm}", search={"algorithm": algorithm, "trials": 3},
                       **({"space": space} if space else {}))
    study = run_in_process(path)
    trials = study.get_trials()
    assert len(trials) == 3
    assert all(t.state is optuna.trial.TrialState.COMPLETE for t in trials)
    check_mlflow_agrees(study, f"algo-{algorithm}")


@pytest.mark.parametrize("pruner", ["median", "successive_halving", "hyperband", "none"])
def test_each_pruner_runs_and_pruned_trials_show_in_mlflow(home, pruner):
    # sgd with tiny learning rates learns nothing in 6 epochs while adam does: the pruners have work to do
    space = {
        "units": {"type": "int", "low": 8, "high": 32},
        "optimizer": {"type": "categorical", "choices": ["adam", "sgd"]},
        "learning_rate": {"type": "float", "low": 1e-5, "high": 1e-2, "log": True},
    }
    path = write_study(home, f"prune-{pruner}", space=space, fixed={"epochs": 5, "batch_size": 64, "patience": 0},
                       search={"algorithm": "random", "pruner": pruner, "trials": 8, "seed": 1})
    study = run_in_process(path)
    states = [t.state for t in study.get_trials()]
    assert len(states) == 8
    pruned = [t for t in study.get_trials() if t.state is optuna.trial.TrialState.PRUNED]
    if pruner == "none":
        assert not pruned
    else:
        assert pruned, f"{pruner} pruned nothing: {states}"
        runs = study_runs(resolve_tracking_uri(None), f"prune-{pruner}")
        for t in pruned:
            run = runs.trials[t.number]
            assert run.info.status == "FINISHED" and run.data.tags["state"] == "PRUNED"
            assert len(runs.history(run, "val_accuracy")) == t.user_attrs["epochs"] < 5
    check_mlflow_agrees(study, f"prune-{pruner}")


def test_resume_keeps_trials_and_counts_the_budget(home):
    path = write_study(home, "resume", search={"algorithm": "random", "trials": 3})
    first = run_in_process(path)
    assert len(first.get_trials()) == 3
    again = run_in_process(path, trials=5)
    trials = again.get_trials()
    assert len(trials) == 5
    assert [t.number for t in trials] == list(range(5))
    configs = [json.dumps(t.params, sort_keys=True) for t in trials]
    assert len(set(configs)) == 5, "a config was trained twice"
    assert len(study_runs(resolve_tracking_uri(None), "resume").parent) == 1  # the same parent run, resumed


def test_grid_runs_each_point_exactly_once_across_resumes(home):
    space = {
        "n_layers": {"type": "int", "low": 1, "high": 2},
        "units": {"type": "int", "low": 8, "high": 16, "per_layer": "n_layers", "grid": [8, 16]},
        "optimizer": {"type": "categorical", "choices": ["adam", "sgd"]},
    }
    path = write_study(home, "grid", space=space, fixed={"epochs": 2, "batch_size": 64, "patience": 0},
                       search={"algorithm": "grid", "trials": 100})
    run_in_process(path, trials=3)  # interrupted after 3 of the 8 points
    study = run_in_process(path)  # resumed: the rest, and nothing twice
    points = [json.dumps(t.params, sort_keys=True) for t in study.get_trials()]
    assert len(points) == 8 and len(set(points)) == 8
    assert run_in_process(path).get_trials() == study.get_trials() or len(run_in_process(path).get_trials()) == 8


def test_same_seed_gives_the_same_first_configs(home):
    configs = []
    for name in ("det-a", "det-b"):
        path = write_study(home, name, search={"algorithm": "tpe", "trials": 3, "seed": 11},
                           fixed={"epochs": 1, "batch_size": 64, "patience": 0})
        configs.append([t.params for t in run_in_process(path).get_trials()])
    assert configs[0] == configs[1]
    other = write_study(home, "det-c", search={"algorithm": "tpe", "trials": 3, "seed": 12},
                        fixed={"epochs": 1, "batch_size": 64, "patience": 0})
    assert [t.params for t in run_in_process(other).get_trials()] != configs[0]


def test_a_different_space_under_the_same_name_is_refused(home):
    from search.driver import StudyMismatchError

    path = write_study(home, "clash", search={"trials": 1}, fixed={"epochs": 1, "batch_size": 64, "patience": 0})
    run_in_process(path)
    changed = write_study(home, "clash", search={"trials": 1}, fixed={"epochs": 2, "batch_size": 64, "patience": 0})
    with pytest.raises(StudyMismatchError, match=r"clash.*different space \(epochs\)"):
        run_in_process(changed)
    assert len(optuna.load_study(study_name="clash", storage=get_storage(resolve_storage_url(None)))
               .get_trials()) == 1


def test_a_new_study_trains_the_middle_of_its_space_first_and_only_once(home):
    import spaces

    path = write_study(home, "middle", search={"algorithm": "tpe", "trials": 2},
                       fixed={"epochs": 1, "batch_size": 64, "patience": 0})
    middle = {k: v for k, v in spaces.middle_config(load_study(path).space).items()
              if k not in ("epochs", "batch_size", "patience")}
    assert middle == {"n_layers": 1, "units_0": 20, "learning_rate": 0.00548, "optimizer": "adam"}
    first, second = run_in_process(path).get_trials()
    assert first.params == middle and first.user_attrs["first_trial"] == "middle"
    assert first.state is optuna.trial.TrialState.COMPLETE and json.loads(first.user_attrs["config"])["units_0"] == 20
    assert second.params != middle and "first_trial" not in second.user_attrs
    resumed = run_in_process(path, trials=3).get_trials()  # a resumed study does not queue the middle again
    assert len(resumed) == 3 and [t.number for t in resumed if "first_trial" in t.user_attrs] == [0]
    sampled = write_study(home, "sampled", search={"algorithm": "tpe", "trials": 1, "first_trial": "sampled"},
                          fixed={"epochs": 1, "batch_size": 64, "patience": 0})
    (only,) = run_in_process(sampled).get_trials()
    assert only.params != middle and "first_trial" not in only.user_attrs
