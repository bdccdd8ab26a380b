"""Score configs exactly as GridSearchCV does: the fairness of the comparison lives here.

:func:`evaluate_configs` is the one function every non-grid strategy scores with.
For each config and each split of the study (its k folds, or its holdout as
``PredefinedSplit(test_fold)``) it clones the study's estimator, sets the config,
fits it on the split's training rows and scores the validation rows with the same
scikit-learn scorer GridSearchCV gets; the config's score is the mean over splits.
That is what ``GridSearchCV._fit_and_score`` does, so a config scores the identical
value whichever strategy proposes it (``tests/test_compare.py`` checks it).

Every fit (GridSearchCV's too) is scored through :class:`LoggedScorer`, which appends
one line per fit to a JSON-lines file: when it ended, for which config. That file is
the timeline of best-so-far against fits and seconds, measured the same way for all.
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from search.comparison._estimator import PREFIX, config_from_params
from spaces import SpecError


INTERRUPTED = threading.Event()  # set by compare's Ctrl-C / SIGTERM handler in this process


def check_interrupt() -> None:
    """Raise KeyboardInterrupt if compare was interrupted: the handler's own raise can be lost (inside a
    TensorFlow op it comes back as a TensorFlow error; inside a garbage collector callback it is ignored)."""
    if INTERRUPTED.is_set():
        raise KeyboardInterrupt("interrupted")


@dataclass(frozen=True)
class Scoring:
    """The study's objective as a scikit-learn scorer: ``value = sign * score``."""

    scorer: str  # a scikit-learn scorer name (greater is better)
    sign: float  # +1 keeps the score, -1 turns neg_* back into the metric
    metric: str  # the study's objective, e.g. val_accuracy
    label: str  # what the value is, e.g. "accuracy", "mse"
    direction: str  # maximize | minimize

    def value(self, score: float) -> float:
        return self.sign * score


_SCORERS: dict[tuple[str, str], tuple[str, float, str]] = {
    ("classification", "val_accuracy"): ("accuracy", 1.0, "accuracy"),
    ("classification", "val_loss"): ("neg_log_loss", -1.0, "log loss"),
    ("binary", "val_accuracy"): ("accuracy", 1.0, "accuracy"),
    ("binary", "val_auc"): ("roc_auc", 1.0, "ROC AUC"),
    ("binary", "val_loss"): ("neg_log_loss", -1.0, "log loss"),
    ("regression", "val_loss"): ("neg_mean_squared_error", -1.0, "mse"),
    ("regression", "val_rmse"): ("neg_root_mean_squared_error", -1.0, "rmse"),
    ("regression", "val_mae"): ("neg_mean_absolute_error", -1.0, "mae"),
}


def scoring_for(task: str, metric: str, direction: str) -> Scoring:
    """The scorer that measures ``metric`` for ``task`` (regression's val_loss is the MSE)."""
    try:
        name, sign, label = _SCORERS[(task, metric)]
    except KeyError:
        known = ", ".join(m for t, m in _SCORERS if t == task)
        raise SpecError(f"compare cannot score {metric!r} for a {task} task", path=("objective", "metric"),
                        hint=f"use one of {known}") from None
    return Scoring(name, sign, metric, label, direction)


def config_key(config: Mapping[str, Any]) -> str:
    """A config's identity (sorted JSON): equal configs from any strategy have equal keys."""
    return json.dumps({k: config[k] for k in sorted(config)}, default=str)


class LoggedScorer:
    """A scikit-learn scorer that also appends ``{"key", "score", "end", "epochs"}`` per call to a file.

    Picklable (joblib sends it to worker processes); one short ``O_APPEND`` write per
    line, so lines from parallel workers never interleave.
    """

    def __init__(self, name: str, log_path: str | None) -> None:
        self.name = name
        self.log_path = log_path

    def __call__(self, estimator: Any, x: Any, y: Any) -> float:
        from sklearn.metrics import get_scorer

        score = math.nan
        check_interrupt()
        try:
            score = float(get_scorer(self.name)(estimator, x, y))
            return score
        finally:
            if self.log_path:
                config = config_from_params(estimator.space, estimator.get_params())
                line = json.dumps({"key": config_key(config), "score": score, "end": time.time(),
                                   "epochs": int(config.get("epochs", 0)), "pid": os.getpid()}) + "\n"
                fd = os.open(self.log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
                try:
                    os.write(fd, line.encode())
                finally:
                    os.close(fd)


@dataclass
class Setup:
    """What every fit of one comparison shares: estimator, pool rows, splits, scorer, parallelism."""

    estimator: Any  # the unfitted study estimator (make_estimator)
    x: np.ndarray  # the pool: training + validation rows
    y: np.ndarray
    test_fold: np.ndarray  # the study's folds / holdout, for PredefinedSplit
    x_test: np.ndarray
    y_test: np.ndarray
    scoring: Scoring
    workers: int = 1
    log_path: str | None = None  # the fit log of the strategy running now
    splits: list[tuple[np.ndarray, np.ndarray]] = field(init=False)

    def __post_init__(self) -> None:
        self.splits = list(self.cv().split())

    def cv(self) -> Any:
        """``PredefinedSplit(test_fold)``: the study's k folds, or its one holdout."""
        from sklearn.model_selection import PredefinedSplit

        return PredefinedSplit(self.test_fold)

    def scorer(self) -> LoggedScorer:
        return LoggedScorer(self.scoring.scorer, self.log_path)

    @property
    def folds(self) -> int:
        return len(self.splits)


@dataclass
class Evaluation:
    """One config's result: mean score over the splits (GridSearchCV's ``mean_test_score``)."""

    config: dict[str, Any]
    score: float  # scikit-learn's (greater is better); NaN when a fit failed
    value: float  # in the metric's own units (accuracy, mse, ...)
    fold_scores: list[float]
    end: float  # time.time() when its last fit was scored
    epochs: int  # epochs trained over all its fits


def params_of(config: Mapping[str, Any]) -> dict[str, Any]:
    """``model__``-prefixed params for ``set_params``."""
    return {PREFIX + k: v for k, v in config.items()}


def _fit_and_score(estimator: Any, params: dict[str, Any], x: np.ndarray, y: np.ndarray, train: np.ndarray,
                   test: np.ndarray, scorer: LoggedScorer) -> tuple[float, float]:
    """Clone, set, fit on ``train``, score ``test`` (NaN if the fit or the score fails, as error_score=nan)."""
    import warnings

    from sklearn.base import clone

    check_interrupt()
    est = clone(estimator).set_params(**clone(params, safe=False))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            est.fit(x[train], y[train])
        score = scorer(est, x[test], y[test])
    except Exception:  # noqa: BLE001 - a failed fit scores NaN, exactly as GridSearchCV(error_score=nan)
        check_interrupt()  # TensorFlow wraps a KeyboardInterrupt raised inside its ops: unwrap it
        score = math.nan
    check_interrupt()
    return score, time.time()


def evaluate_configs(setup: Setup, configs: Sequence[Mapping[str, Any]]) -> list[Evaluation]:
    """Score each config on every split of the study, the fits spread over ``setup.workers`` processes."""
    from joblib import Parallel, delayed

    configs = [dict(c) for c in configs]
    tasks = [(i, train, test) for i in range(len(configs)) for train, test in setup.splits]
    scorer = setup.scorer()
    results = Parallel(n_jobs=setup.workers)(
        delayed(_fit_and_score)(setup.estimator, params_of(configs[i]), setup.x, setup.y, train, test, scorer)
        for i, train, test in tasks
    )
    out = []
    k = setup.folds
    for i, config in enumerate(configs):
        mine = results[i * k:(i + 1) * k]
        scores = [s for s, _ in mine]
        mean = float(np.average(np.array(scores, dtype=np.float64)))
        epochs = int(config.get("epochs", 0)) * k
        out.append(Evaluation(config, mean, setup.scoring.value(mean), scores, max(t for _, t in mine), epochs))
    return out


def refit_and_test(setup: Setup, config: Mapping[str, Any]) -> tuple[Any, float]:
    """Fit ``config`` on the whole pool (as ``refit=True`` does) and score the test rows."""
    from sklearn.base import clone

    est = clone(setup.estimator).set_params(**params_of(config))
    est.fit(setup.x, setup.y)
    return est, score_on_test(setup, est)


def score_on_test(setup: Setup, fitted: Any) -> float:
    """A fitted estimator's objective on the test rows (NaN without test rows or when scoring fails)."""
    from sklearn.metrics import get_scorer

    if len(setup.y_test) == 0:
        return math.nan
    try:
        return setup.scoring.value(float(get_scorer(setup.scoring.scorer)(fitted, setup.x_test, setup.y_test)))
    except ValueError:
        return math.nan


def log_events(path: str | Path) -> list[dict[str, Any]]:
    """The fit log's lines in the order the fits ended."""
    p = Path(path)
    if not p.exists():
        return []
    rows = [json.loads(line) for line in p.read_text().splitlines() if line.strip()]
    return sorted(rows, key=lambda r: r["end"])
