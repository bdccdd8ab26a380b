"""``tuneforge compare``: GridSearchCV against Optuna and Keras Tuner strategies, budget-matched.

``run_comparison(study, CompareOptions(...))`` runs every strategy ``repeats`` times
on the study's folds (or its holdout), scores every config the way GridSearchCV does
(:func:`evaluate_configs`, the fairness of the comparison), writes the report (PNG,
offline HTML, CSV, Markdown) and logs one MLflow parent run with a nested run per
strategy and repeat. TensorFlow, scikit-learn and MLflow load only when a comparison runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from spaces.core._lazy import lazy_getattr

if TYPE_CHECKING:
    from search.comparison._budget import Budget, parse_budget
    from search.comparison._estimator import make_estimator
    from search.comparison._evaluate import (
        Evaluation,
        Setup,
        evaluate_configs,
        scoring_for,
    )
    from search.comparison._names import STRATEGIES
    from search.comparison._report import COLUMNS, REPORT_FILES
    from search.comparison._run import CompareOptions, Comparison, run_comparison
    from search.comparison._strategies import StrategyRun

_LAZY = {
    "Budget": "search.comparison._budget",
    "parse_budget": "search.comparison._budget",
    "make_estimator": "search.comparison._estimator",
    "Evaluation": "search.comparison._evaluate",
    "Setup": "search.comparison._evaluate",
    "evaluate_configs": "search.comparison._evaluate",
    "scoring_for": "search.comparison._evaluate",
    "COLUMNS": "search.comparison._report",
    "REPORT_FILES": "search.comparison._report",
    "CompareOptions": "search.comparison._run",
    "Comparison": "search.comparison._run",
    "run_comparison": "search.comparison._run",
    "STRATEGIES": "search.comparison._names",
    "StrategyRun": "search.comparison._strategies",
}

__all__ = sorted(_LAZY)


__getattr__ = lazy_getattr(globals(), _LAZY)
