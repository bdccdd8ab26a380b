"""The best model on small data: ties broken by the loss, refit on train+validation, a baseline's accuracy."""

from __future__ import annotations

import json
import math
from pathlib import Path

import optuna
import pytest

from search.driver import load_records
from search.engines import TrialRecord, best_of
from search.storage import get_storage
from search.states import TrialState


def tied_storage(url: str, name: str, trials: list[tuple[float, float | None]], direction: str) -> None:
    """A real Optuna storage holding COMPLETE trials (value, val_loss), as workers write them."""
    study = optuna.create_study(study_name=name, storage=get_storage(url), direction=direction)
    for value, loss in trials:
        trial = study.ask()
        trial.set_user_attr("config", json.dumps({"units": 8}))
        if loss is not None:
            trial.set_user_attr("val_loss", loss)
        study.tell(trial, value)


@pytest.mark.parametrize(("direction", "trials", "expected"), [
    ("maximize", [(0.9, 0.5), (1.0, 0.30), (1.0, 0.12), (1.0, 0.20), (0.95, 0.01)], 2),
    ("minimize", [(2.0, 0.5), (1.5, 0.40), (1.5, 0.40), (1.5, 0.41)], 1),  # equal losses: the earliest
    ("maximize", [(1.0, None), (1.0, 0.3), (0.5, 0.1)], 1),  # an unknown loss loses the tie
])
def test_ties_go_to_the_lower_loss(tmp_path: Path, direction: str, trials: list, expected: int) -> None:
    url = f"sqlite:///{tmp_path / 'tied.db'}"
    tied_storage(url, "tied", trials, direction)
    best = best_of(load_records(url, "tied")(), direction)
    assert best is not None and best.number == expected


def test_no_complete_trial_has_no_best() -> None:
    failed = TrialRecord(0, TrialState.FAIL, None, {})
    assert best_of([failed], "maximize") is None


def baseline_accuracy(name: str) -> float:
    """StandardScaler + LogisticRegression, accuracy averaged over 5-fold CV on the whole set."""
    from sklearn import datasets
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, y = getattr(datasets, f"load_{name}")(return_X_y=True)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    return float(cross_val_score(model, x, y, cv=5, scoring="accuracy").mean())


@pytest.mark.slow
@pytest.mark.parametrize("dataset", ["wine", "breast_cancer", "iris"])
def test_exported_model_is_near_a_logistic_baseline(dataset: str, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    import search

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TUNEFORGE_HOME", str(tmp_path / ".tuneforge"))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    result = search.run({
        "name": f"{dataset.replace('_', '-')}-best",
        "data": {"dataset": dataset, "validation": 0.25, "test": 0.2, "seed": 0},
        "space": {"units": {"type": "int", "low": 8, "high": 64, "log": True},
                  "learning_rate": {"type": "float", "low": 3e-3, "high": 1e-1, "log": True},
                  "activation": {"type": "categorical", "choices": ["relu", "tanh"]}},
        "fixed": {"n_layers": 1, "epochs": 30, "batch_size": 16, "patience": 5},
        "search": {"pruner": "none", "seed": 0},
    }, trials=16, executor="inline", export_dir=str(tmp_path / "model"), progress=False)  # as in a notebook
    baseline = baseline_accuracy(dataset)
    tuned = result.test["accuracy"]
    print(f"{dataset}: exported model test accuracy {tuned:.4f}, "
          f"StandardScaler+LogisticRegression 5-fold CV {baseline:.4f}")
    assert len(result.trials) == 16
    assert tuned >= baseline - 0.04

    card = json.loads((result.export_dir / "model_card.json").read_text())
    assert card["refit"]["rows"] == "train+validation"
    from sklearn import datasets

    n = len(getattr(datasets, f"load_{dataset}")().target)
    assert card["refit"]["n_rows"] == n - math.ceil(0.2 * n)  # every non-test row trained it
    assert card["objective"]["trial_value"] == result.best.value
    assert "ties broken by the lower validation loss" in card["selection"]
