"""Compile a SearchSpace to Optuna: ``(trial) -> config`` using ``trial.suggest_*``."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from spaces._params import Bool, Categorical, Fixed, Float, Int, Param
from spaces._space import SearchSpace

if TYPE_CHECKING:
    import optuna


def optuna_distribution(param: Param) -> optuna.distributions.BaseDistribution | None:
    """The Optuna distribution a parameter samples from (``None`` for fixed values)."""
    from optuna import distributions as d

    if isinstance(param, Int):
        return d.IntDistribution(param.low, param.high, log=param.log, step=param.effective_step)
    if isinstance(param, Float):
        return d.FloatDistribution(param.low, param.high, log=param.log, step=param.step)
    if isinstance(param, Bool):
        return d.CategoricalDistribution((False, True))
    if isinstance(param, Categorical):
        return d.CategoricalDistribution(param.choices)
    if isinstance(param, Fixed):
        return None
    raise TypeError(f"no Optuna distribution for {type(param).__name__}")


def to_optuna(space: SearchSpace) -> Callable[[optuna.trial.BaseTrial], dict[str, Any]]:
    """A function that samples one config from an Optuna trial, define-by-run.

    Per-layer copies and ``when`` parameters are suggested only when they exist, so
    Optuna sees exactly the parameters of each config.
    """
    distributions = {p.name: optuna_distribution(p) for p in space}

    def suggest(trial: optuna.trial.BaseTrial) -> dict[str, Any]:
        def choose(param: Param, name: str) -> Any:
            dist = distributions[param.name]
            if dist is None:
                return param.value  # type: ignore[attr-defined]
            return trial._suggest(name, dist)

        return space.walk(choose)

    return suggest
