"""The Keras Tuner engine: oracle mapping, the chief's retry and reload, distributed runs, kill -9."""

from __future__ import annotations

import os
import signal
import subprocess

import optuna
import psutil
import pytest

from search.engines.keras_tuner import Chief
from search.engines.keras_tuner._oracle import config_of, hyperband_tags, make_oracle
from search.spec import study_from_dict
from tests._mlflow import study_runs
from tests._studies import BASE, write_study
from tests.test_run_cli import journal, load, local_env, start_run, tracking, wait_for


def kt_study(algorithm: str, **overrides):
    spec = {**BASE, "name": f"kt-{algorithm}", "search": {"engine": "keras_tuner", "algorithm": algorithm,
                                                            "trials": 5, "seed": 3}}
    spec.update(overrides)
    return study_from_dict(spec)


# --- the oracle: objective, budget, Hyperband's epochs ---------------------------------------
@pytest.mark.parametrize("algorithm", ["random", "bayesian", "hyperband"])
def test_the_oracle_maps_objective_budget_and_space(algorithm):
    study = kt_study(algorithm, objective={"metric": "val_loss"}, fixed={"epochs": 9, "batch_size": 64})
    oracle = make_oracle(study, budget=5, seed=3)
    assert oracle.objective.name == "val_loss" and oracle.objective.direction == "min"
    assert oracle.max_trials == 5
    names = {hp.name for hp in oracle.get_space().space}
    assert {"n_layers", "units_0", "units_1", "learning_rate", "optimizer", "momentum", "epochs"} <= names
    if algorithm == "hyperband":
        assert (oracle.max_epochs, oracle.factor) == (9, 3)


def test_hyperband_trials_train_for_their_round_epochs_and_carry_bracket_and_round(tmp_path):
    study = kt_study("hyperband", fixed={"epochs": 9, "batch_size": 64})
    chief = Chief(study, budget=30, seed=3, directory=tmp_path / "kt")
    epochs = set()
    for i in range(12):
        trial = chief.oracle.create_trial(f"tuner-{i}")
        config = config_of(study, trial.hyperparameters)
        assert config["epochs"] == trial.hyperparameters.values["tuner/epochs"] <= 9
        assert set(hyperband_tags(trial.hyperparameters)) >= {"bracket", "round"}
        if config["optimizer"] != "sgd":
            assert "momentum" not in config  # a conditional parameter exists only when its condition holds
        assert [k for k in config if k.startswith("units_")] == [f"units_{j}" for j in range(config["n_layers"])]
        epochs.add(config["epochs"])
    assert len(epochs) > 1, "Hyperband's first brackets train for different numbers of epochs"


def test_the_chief_retries_a_released_trial_and_reloads_its_state(tmp_path):
    study = kt_study("random")
    chief = Chief(study, budget=3, seed=3, directory=tmp_path / "kt")
    first = chief.oracle.create_trial("tuner-0")
    assert chief.oracle.create_trial("tuner-0").trial_id == first.trial_id  # a restarted worker gets its trial
    assert chief.release(0, "worker died") == first.trial_id
    assert chief.oracle.create_trial("tuner-1").trial_id == first.trial_id  # another worker retries it
    chief.stop()  # saved while tuner-1 runs it

    again = Chief(study, budget=3, seed=3, directory=tmp_path / "kt")
    assert again.oracle.create_trial("tuner-0").trial_id == first.trial_id  # the reload queues it again
    assert again.oracle.create_trial("tuner-1").trial_id != first.trial_id  # then new trials continue
    assert (tmp_path / "kt" / "oracle.json").exists()


def test_switching_engines_under_one_study_name_is_refused(tmp_path, monkeypatch):
    from spaces.core import resolve_storage_url
    from search.driver import StudyMismatchError, prepare_run

    monkeypatch.setenv("TUNEFORGE_HOME", str(tmp_path / ".tuneforge"))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    url, tracking_uri = resolve_storage_url(None), f"sqlite:///{tmp_path / 'mlflow.db'}"
    optuna_study = study_from_dict({**BASE, "name": "switch"})
    prepare_run(optuna_study, storage_url=url, tracking_uri=tracking_uri, trials=None, timeout=None, seed=None,
                workers=1, data_sha256="x")
    with pytest.raises(StudyMismatchError, match=r"run with the optuna engine.*keras_tuner/bayesian"):
        prepare_run(study_from_dict({**BASE, "name": "switch", "search": {"engine": "keras_tuner",
                                                                          "algorithm": "bayesian"}}),
                    storage_url=url, tracking_uri=tracking_uri, trials=None, timeout=None, seed=None, workers=1,
                    data_sha256="x")


# --- real runs -----------------------------------------------------------------------------
@pytest.mark.slow
def test_two_keras_tuner_workers_finish_with_one_mlflow_run_per_trial(tmp_path):
    path = write_study(tmp_path, "kt-two", search={"engine": "keras_tuner", "algorithm": "hyperband", "trials": 6,
                                                   "workers": 2, "seed": 3},
                       fixed={"epochs": 3, "batch_size": 64, "patience": 0})
    proc = start_run(tmp_path, str(path), "--no-export")
    out, err = proc.communicate(timeout=480)  # bounded: a hang fails the test instead of stalling the suite
    assert proc.returncode == 0, err[-3000:]
    trials = load(journal(tmp_path), "kt-two").get_trials()
    assert [t.number for t in trials] == list(range(6))
    assert all(t.state is optuna.trial.TrialState.COMPLETE for t in trials)
    assert len({t.user_attrs["worker"] for t in trials}) == 2, "both workers should have trained"
    assert len({t.user_attrs["kt_trial"] for t in trials}) == 6
    runs = study_runs(tracking(tmp_path), "kt-two")
    assert set(runs.trials) == set(range(6))
    for t in trials:
        tags = runs.trials[t.number].data.tags
        assert tags["kt_trial"] == t.user_attrs["kt_trial"]
        assert tags["bracket"] == t.user_attrs["bracket"] and tags["round"] == t.user_attrs["round"]
        assert len(runs.history(runs.trials[t.number], "val_accuracy")) == t.user_attrs["epochs"]
    assert not [p for p in psutil.Process().children(recursive=True) if "search.workers" in " ".join(p.cmdline())]


@pytest.mark.slow
def test_kill_9_a_keras_tuner_worker_retries_its_trial_and_the_run_finishes(tmp_path):
    path = write_study(tmp_path, "kt-killed", search={"engine": "keras_tuner", "algorithm": "random", "trials": 4,
                                                      "workers": 2, "seed": 3},
                       fixed={"epochs": 12, "batch_size": 32, "patience": 0})
    proc = start_run(tmp_path, str(path), "--no-export")
    url = journal(tmp_path)
    victim: dict[str, object] = {}

    def running_trial_with_a_worker() -> bool:
        workers = {p.pid: p.cmdline() for p in psutil.Process(proc.pid).children() if "search.workers" in p.cmdline()}
        try:
            running = load(url, "kt-killed").get_trials(states=(optuna.trial.TrialState.RUNNING,))
        except KeyError:
            return False
        for t in running:
            if "mlflow_run_id" not in t.user_attrs:
                continue
            for pid, cmd in workers.items():
                if t.user_attrs.get("worker") in cmd:
                    victim.update(pid=pid, number=t.number, kt_trial=t.user_attrs["kt_trial"])
                    return True
        return False

    wait_for(running_trial_with_a_worker, what="a Keras Tuner worker in the middle of a trial")
    os.kill(int(victim["pid"]), signal.SIGKILL)
    try:
        out, err = proc.communicate(timeout=480)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise AssertionError("the run hung after a worker was killed") from None
    assert proc.returncode == 0, err[-3000:]
    assert "died (killed by SIGKILL)" in out
    trials = load(url, "kt-killed").get_trials()
    lost = trials[int(victim["number"])]
    assert lost.state is optuna.trial.TrialState.FAIL and "lost" in lost.user_attrs
    retries = [t for t in trials if t.user_attrs.get("retry_of") == lost.number]
    assert len(retries) == 1, "exactly one retry of the lost trial"
    retry = retries[0]
    assert retry.state is optuna.trial.TrialState.COMPLETE
    assert retry.user_attrs["kt_trial"] == victim["kt_trial"] and retry.params == lost.params
    counted = [t for t in trials if "lost" not in t.user_attrs]
    assert len(counted) == 4 and len({t.user_attrs["kt_trial"] for t in counted}) == 4
    runs = study_runs(tracking(tmp_path), "kt-killed")
    assert runs.trials[lost.number].info.status == "FAILED" and "died" in runs.trials[lost.number].data.tags["error"]
    assert runs.trials[retry.number].data.tags["retry_of"] == str(lost.number)
    assert all(r.info.status != "RUNNING" for r in [*runs.parent, *runs.trials.values()])
