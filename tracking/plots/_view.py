"""One consistent read of a study for its report: the trials, the best one, the importances.

Also the report's file names and colours, and what each plot needs before it can be drawn.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from tracking.plots._leaderboard import LEADERBOARD_CSV, LEADERBOARD_MD

HISTORY = "optimization_history.png"
INTERMEDIATE = "intermediate_values.png"
PARALLEL = "parallel_coordinate.png"
IMPORTANCES = "param_importances.png"
SLICE = "slice.png"
HTML = "study_report.html"
SKIPPED = "skipped.txt"
PNG_FILES = (HISTORY, INTERMEDIATE, PARALLEL, IMPORTANCES, SLICE)
REPORT_FILES = (*PNG_FILES, HTML, LEADERBOARD_CSV, LEADERBOARD_MD, SKIPPED)
ARTIFACT_PATH = "study"

DPI = 100
MAX_PNG_WIDTH_INCHES = 32.0  # the parallel-coordinate plot grows with the parameters; cap its width
SLICE_COLUMNS = 4  # the slice plot's subplots are folded into rows of this many
CONTOUR_PARAMS = 3  # the interactive contour shows only the most important parameters

COMPLETE_COLOR = "#1f77b4"
PRUNED_COLOR = "#d62728"
RUNNING_COLOR = "#7f7f7f"
BEST_COLOR = "#2ca02c"



@dataclass
class _View:
    """One consistent read of the study and what the plots need from it."""

    study: Any  # an optuna.Study (an in-memory snapshot when possible)
    trials: list[Any]
    metric: str
    direction: str
    complete: list[Any] = field(default_factory=list)
    params: list[str] = field(default_factory=list)  # searched params seen in complete trials, sorted
    best: Any = None
    importances: dict[str, float] | None = None
    importances_skip: str | None = None

    @property
    def states(self) -> dict[int, str]:
        return {t.number: t.state.name for t in self.trials}


# --- reading the study -------------------------------------------------------------------

def _snapshot(optuna_study: Any, trials: list[Any], metric: str) -> Any:
    """An in-memory copy of the study's trials, so every figure sees the same trials."""
    import optuna

    copy = optuna.create_study(study_name=optuna_study.study_name, directions=optuna_study.directions)
    try:
        copy.add_trials(trials)
        if [t.number for t in copy.get_trials(deepcopy=False)] != [t.number for t in trials]:
            return optuna_study  # numbering did not survive the copy: read the original
        if len(optuna_study.directions) == 1:
            copy.set_metric_names([metric])
    except Exception:  # noqa: BLE001 - an unusual trial (odd state, attrs): plot from the original study
        return optuna_study
    return copy


def _finite(value: Any) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def _read(optuna_study: Any, metric: str, direction: str) -> _View:
    trials = sorted(optuna_study.get_trials(deepcopy=False), key=lambda t: t.number)
    view = _View(_snapshot(optuna_study, trials, metric), trials, metric, direction)
    if len(optuna_study.directions) != 1:
        return view
    view.complete = [t for t in trials if t.state.name == "COMPLETE" and _finite(t.value)]
    view.params = sorted({name for t in view.complete for name in t.params})
    if view.complete:
        sign = 1.0 if direction == "maximize" else -1.0  # the leaderboard's rank 1
        view.best = max(view.complete, key=lambda t: (sign * t.value, -t.number))
    view.importances, view.importances_skip = _importances(view)
    return view


def _importances(view: _View) -> tuple[dict[str, float] | None, str | None]:
    """Normalized importances, or why they cannot be computed."""
    import optuna

    if len(view.complete) < 2:
        return None, f"needs at least 2 complete trials, the study has {len(view.complete)}"
    if not view.params:
        return None, "no searched parameter in the complete trials"
    if len({t.value for t in view.complete}) < 2:
        return None, "every complete trial has the same objective value"
    try:
        raw = optuna.importance.get_param_importances(view.study, params=list(view.params), normalize=False)
    except Exception as exc:  # noqa: BLE001 - an evaluator's limitation must not stop the report
        return None, f"the importance evaluator failed: {type(exc).__name__}: {exc}"
    total = sum(raw.values())
    if not total > 0 or not math.isfinite(total):
        return None, "every parameter's importance is zero (the parameters do not vary enough)"
    return {name: value / total for name, value in raw.items()}, None


def _precomputed(values: dict[str, float]) -> Any:
    """An importance evaluator returning ``values`` (computed once, drawn twice)."""
    from optuna.importance import BaseImportanceEvaluator

    class Precomputed(BaseImportanceEvaluator):
        def evaluate(self, study: Any, params: Any = None, *, target: Any = None) -> dict[str, float]:
            return dict(values)

    return Precomputed()


# --- drawing ------------------------------------------------------------------------------

@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence Optuna's experimental and advisory warnings and logs while drawing."""
    import optuna

    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        optuna.logging.set_verbosity(verbosity)


def _needs_complete(view: _View) -> str | None:
    return None if view.complete else "no complete trial"


def _needs_params(view: _View) -> str | None:
    if not view.complete:
        return "no complete trial"
    return None if view.params else "no searched parameter in the complete trials"


def _needs_intermediate(view: _View) -> str | None:
    if any(t.intermediate_values and t.state.name in ("COMPLETE", "PRUNED", "RUNNING") for t in view.trials):
        return None
    return "no trial reported intermediate values (per-epoch objective)"


def _needs_importances(view: _View) -> str | None:
    return view.importances_skip if view.importances is None else None
