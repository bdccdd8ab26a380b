"""search.training: per-epoch reports, pruning, patience, NaN failures, determinism, k folds.

Every test trains a small real Keras model for a few epochs on a bundled set.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import search.training._trainer as trainer
from search.data import load_data
from search.states import TrialState
from search.training import Pruned, TrainResult, evaluate, train_config

pytestmark = pytest.mark.slow

TINY = {"n_layers": 1, "units": 16, "epochs": 3, "patience": 0, "batch_size": 64, "learning_rate": 0.01}


@pytest.fixture(scope="module")
def digits():
    return load_data("digits")


def test_report_is_called_once_per_epoch_with_validation_metrics(digits):
    calls = []
    result = train_config(TINY, digits, report=lambda epoch, logs: calls.append((epoch, dict(logs))),
                          keep_model=True)
    assert result.state is TrialState.COMPLETE and result.error is None
    assert [epoch for epoch, _ in calls] == [0, 1, 2]
    for (_, logs), recorded in zip(calls, result.history, strict=True):
        assert {"val_accuracy", "val_loss", "accuracy", "loss"} == set(logs)
        assert all(isinstance(v, float) and math.isfinite(v) for v in logs.values())
        assert logs == recorded
    # the objective is the best epoch's value and the kept model has that epoch's weights
    values = [logs["val_accuracy"] for _, logs in calls]
    assert result.objective == max(values)
    assert result.best_epoch == int(np.argmax(values))
    assert result.best_metrics == result.history[result.best_epoch]
    split = digits.splits[0]
    assert evaluate(result.model, split.x_val, split.y_val)["accuracy"] == pytest.approx(result.objective, abs=1e-6)
    assert result.seconds > 0 and result.epochs_trained == 3


def test_raising_pruned_from_report_stops_the_trial_as_pruned(digits):
    calls = []

    def report(epoch, logs):
        calls.append(epoch)
        if epoch == 1:
            raise Pruned()

    result = train_config({**TINY, "epochs": 20}, digits, report=report, keep_model=True)
    assert result.state is TrialState.PRUNED
    assert calls == [0, 1]
    assert result.epochs_trained == 2  # stopped right after the pruned epoch, not after 20
    assert result.error is None
    assert result.objective == max(logs["val_accuracy"] for logs in result.history)
    assert result.fold_objectives == [] and result.model is not None  # kept for the trial's plots


def test_another_exception_from_report_fails_the_trial_without_raising(digits):
    def report(epoch, logs):
        raise ConnectionError("tracking server went away")

    result = train_config({**TINY, "epochs": 5}, digits, report=report)
    assert result.state is TrialState.FAIL
    assert result.error == "ConnectionError: tracking server went away"
    assert result.objective is None


def test_patience_stops_early_when_the_objective_stalls(digits):
    # learning rate 0: the validation accuracy never improves after epoch 0
    config = {**TINY, "optimizer": "sgd", "learning_rate": 0.0, "epochs": 30, "patience": 2}
    calls = []
    result = train_config(config, digits, report=lambda epoch, logs: calls.append(epoch))
    assert result.state is TrialState.COMPLETE
    assert result.epochs_trained == 3 and calls == [0, 1, 2]  # the best epoch, then `patience` more
    assert result.best_epoch == 0
    assert len({logs["val_accuracy"] for logs in result.history}) == 1


def test_huge_learning_rate_fails_as_non_finite_without_raising():
    diabetes = load_data("diabetes")
    config = {**TINY, "optimizer": "sgd", "learning_rate": 1e6, "epochs": 10, "units": 32}
    calls = []
    result = train_config(config, diabetes, metric="val_rmse", direction="minimize", keep_model=True,
                          report=lambda epoch, logs: calls.append(epoch))
    assert result.state is TrialState.FAIL
    assert result.objective is None and result.model is None and result.fold_objectives == []
    assert "non-finite" in result.error and "learning rate too high" in result.error
    assert "loss" in result.error
    assert result.epochs_trained == 1  # stopped at the first non-finite epoch
    assert not math.isfinite(result.history[0]["loss"])
    assert calls == []  # a non-finite epoch is not reported as a value


def test_objective_metric_the_task_does_not_report_fails_the_trial(digits):
    result = train_config({**TINY, "epochs": 1}, digits, metric="val_rmse", direction="minimize")
    assert result.state is TrialState.FAIL
    assert "metric 'val_rmse' not reported" in result.error and "val_accuracy" in result.error


def test_same_seed_same_metrics_other_seed_other_metrics(digits):
    config = {**TINY, "epochs": 2, "dropout": 0.2}  # dropout masks come from the seed too
    first = train_config(config, digits, seed=7)
    other = train_config(config, digits, seed=8)
    again = train_config(config, digits, seed=7)  # after another trial in the same process
    assert first.state is other.state is again.state is TrialState.COMPLETE
    assert again.history == first.history  # exactly, every metric of every epoch
    assert again.objective == first.objective
    assert other.history != first.history


def test_trials_do_not_pile_up_in_tensorflows_gradient_registry(digits):
    """Each traced train step registers a custom gradient globally; the trainer unregisters it after the fit.

    Left there, every trial's whole graph stays alive (several MiB per trial in a long-lived worker).
    """
    before = trainer._custom_gradients()
    seen = []
    result = train_config({**TINY, "epochs": 1}, digits,
                          report=lambda epoch, logs: seen.append(trainer._custom_gradients() - before))
    assert result.state is TrialState.COMPLETE
    assert seen and seen[0], "the fit registers custom gradients (else this test checks nothing)"
    assert trainer._custom_gradients() == before


def test_steps_per_execution_does_not_change_the_math(digits, monkeypatch):
    """The trainer runs up to 32 batches per graph call; one batch per call gives the same history."""
    config = {**TINY, "epochs": 2, "batch_size": 32}  # 1149 rows: 36 batches, so a partial last group
    assert trainer._fast_settings(len(digits.splits[0].x_train), 32)["steps_per_execution"] == 32
    fast = train_config(config, digits, seed=3)
    monkeypatch.setattr(trainer, "MAX_STEPS_PER_EXECUTION", 1)
    slow = train_config(config, digits, seed=3)
    assert slow.history == fast.history


def test_k_folds_give_one_objective_per_fold_and_their_mean(monkeypatch):
    cancer = load_data("breast_cancer", validation=3)
    assert len(cancer.splits) == 3
    seen_stats = []
    real_build = trainer.build_model

    def spy(*args, **kwargs):
        seen_stats.append(kwargs["stats"])
        return real_build(*args, **kwargs)

    monkeypatch.setattr(trainer, "build_model", spy)
    calls = []
    result = train_config({**TINY, "epochs": 2}, cancer, metric="val_auc",
                          report=lambda epoch, logs: calls.append(epoch), keep_model=True)
    assert result.state is TrialState.COMPLETE, result.error
    assert len(result.fold_objectives) == 3
    assert all(0.5 < v <= 1.0 for v in result.fold_objectives)
    assert result.objective == pytest.approx(float(np.mean(result.fold_objectives)), rel=1e-12)
    assert len(set(result.fold_objectives)) > 1  # really different validation rows
    # reports and history come from the first fold only
    assert calls == [0, 1] and result.epochs_trained == 2
    assert result.fold_objectives[0] == max(logs["val_auc"] for logs in result.history)
    # each fold's model standardizes with its own training rows' statistics
    assert len(seen_stats) == 3
    for stats, split in zip(seen_stats, cancer.splits, strict=True):
        np.testing.assert_array_equal(stats[0], split.mean)
        np.testing.assert_array_equal(stats[1], split.variance)
    # the kept model is fold 0's, still usable after the later folds cleared the Keras session
    split0 = cancer.splits[0]
    kept = evaluate(result.model, split0.x_val, split0.y_val)
    assert kept["auc"] == pytest.approx(result.fold_objectives[0], abs=1e-4)
    np.testing.assert_allclose(np.ravel(result.model.get_layer("standardize").mean), split0.mean, rtol=1e-6)


def test_train_result_helpers():
    result = TrainResult(state=TrialState.COMPLETE, objective=0.5, metric="val_accuracy",
                         history=[{"val_accuracy": 0.4}, {"val_accuracy": 0.5}], best_epoch=1)
    assert result.epochs_trained == 2 and result.best_metrics == {"val_accuracy": 0.5}
    assert TrainResult(state=TrialState.FAIL, objective=None, metric="m").best_metrics == {}
