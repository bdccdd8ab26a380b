"""``tuneforge compare``: GridSearchCV against Optuna and Keras Tuner strategies, budget-matched.

``run_comparison(study, CompareOptions(...))`` runs every strategy ``repeats`` times
on the study's folds (or its holdout), scores every config the way GridSearchCV does
(:func:`evaluate_configs`, the fairness of the comparison), writes the report (PNG,
offline HTML, CSV, Markdown) and logs one MLflow parent run with a nested run per
strategy and repeat. TensorFlow, scikit-learn and MLflow load only when a comparison runs.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from search.compare._budget import Budget, parse_budget
    from search.compare._estimator import make_estimator
    from search.compare._evaluate import Evaluation, Setup, evaluate_configs, scoring_for
    from search.compare._report import COLUMNS, REPORT_FILES
    from search.compare._run import CompareOptions, Comparison, run_comparison
    from search.compare._names import STRATEGIES
    from search.compare._strategies import StrategyRun

_LAZY = {
    "Budget": "search.compare._budget",
    "parse_budget": "search.compare._budget",
    "make_estimator": "search.compare._estimator",
    "Evaluation": "search.compare._evaluate",
    "Setup": "search.compare._evaluate",
    "evaluate_configs": "search.compare._evaluate",
    "scoring_for": "search.compare._evaluate",
    "COLUMNS": "search.compare._report",
    "REPORT_FILES": "search.compare._report",
    "CompareOptions": "search.compare._run",
    "Comparison": "search.compare._run",
    "run_comparison": "search.compare._run",
    "STRATEGIES": "search.compare._names",
    "StrategyRun": "search.compare._strategies",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class _CallableModule(types.ModuleType):
    """``search.compare(study, **overrides)`` is the public API (``search._api.compare``) while
    ``search.compare`` is also this package: importing a submodule rebinds the name to the package,
    so the package itself is callable."""

    def __call__(self, study: Any, **overrides: Any) -> Any:
        from search._api import compare

        return compare(study, **overrides)


sys.modules[__name__].__class__ = _CallableModule
