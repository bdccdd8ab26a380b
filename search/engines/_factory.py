"""The one place an engine is chosen: ``search.engine`` in the study file -> an :class:`Engine` class."""

from __future__ import annotations

import importlib
from typing import Any

from search.engines._base import Engine
from spaces.core import SpecError

# name -> "module:class"; loaded on use (Keras Tuner's engine imports keras_tuner)
ENGINES = {
    "optuna": "search.engines.optuna._engine:OptunaEngine",
    "keras_tuner": "search.engines.keras_tuner._engine:KerasTunerEngine",
}


def engine_class(study: Any) -> type[Engine]:
    """The engine class of ``study`` (``tuneforge run`` engines; ``grid`` is ``tuneforge compare``'s)."""
    name = study.spec.search.engine
    if name not in ENGINES:
        raise SpecError(
            f"engine: {name} is scikit-learn's GridSearchCV, which `tuneforge compare` runs; "
            f"`tuneforge run` runs engine: {' or '.join(ENGINES)}",
            path=("search", "engine"), source=study.source,
            hint="use engine: optuna with algorithm: grid, or `tuneforge compare STUDY --strategies grid,tpe`",
        )
    module, _, cls = ENGINES[name].partition(":")
    return getattr(importlib.import_module(module), cls)


def make_engine(study: Any, plan: Any, *, worker: str, index: int = 0, heartbeat: Any = None,
                gate: Any = None) -> Engine:
    """The engine worker ``worker`` (slot ``index``) of ``plan`` asks for trials.

    ``heartbeat`` beats for each running trial; ``gate()`` is asked before a new trial
    starts (False: a paused study). Engines that cannot use them ignore them.
    """
    return engine_class(study).for_plan(study, plan, worker=worker, index=index, heartbeat=heartbeat, gate=gate)
