"""Build the Keras Tuner oracle of a study: its space, objective, budget and algorithm."""

from __future__ import annotations

from typing import Any

import spaces
from search.models import value
from search.spec import Study

HYPERBAND_FACTOR = 3  # Keras Tuner's default reduction factor; Optuna's hyperband pruner uses the same


def max_epochs(study: Study) -> int:
    """The study's epochs per trial (its fixed ``epochs`` or the default): Hyperband's ``max_epochs``."""
    fixed = {p.name: p.value for p in study.space if isinstance(p, spaces.Fixed)}
    return int(value(fixed, "epochs"))


def make_oracle(study: Study, *, budget: int, seed: int | None) -> Any:
    """A fresh oracle for ``study`` with its whole space declared.

    ``max_trials`` is the study's trial budget for every algorithm (Hyperband stops at
    the budget too, even mid-bracket), so budgets mean the same thing on both engines.
    """
    import keras_tuner as kt

    silence_stray_print()
    direction = "max" if study.direction == "maximize" else "min"
    common: dict[str, Any] = {
        "objective": kt.Objective(study.metric, direction),
        "seed": seed,
        "max_retries_per_trial": 1,  # a trial lost with its worker is retried once, as on Optuna
        "max_consecutive_failed_trials": 1_000_000,  # failures are results here, not a reason to stop
    }
    algorithm = study.spec.search.algorithm
    if algorithm == "random":
        oracle = kt.oracles.RandomSearchOracle(max_trials=budget, **common)
    elif algorithm == "bayesian":
        oracle = kt.oracles.BayesianOptimizationOracle(max_trials=budget, **common)
    elif algorithm == "hyperband":
        # iterations without end: the trial budget stops it, as it stops the other algorithms
        oracle = kt.oracles.HyperbandOracle(max_epochs=max_epochs(study), factor=HYPERBAND_FACTOR,
                                            hyperband_iterations=None, **common)
        oracle.max_trials = budget
    else:  # the spec allows only these three for keras_tuner
        raise ValueError(f"no Keras Tuner oracle for algorithm {algorithm!r}")
    oracle.verbose = 0  # the chief is the `tuneforge run` process: its screen belongs to the progress bar
    declare_space(oracle, study)
    return oracle


def declare_space(oracle: Any, study: Study) -> None:
    """Declare every parameter (each layer copy, each conditional one) on the oracle."""
    hp = oracle.get_space()
    spaces.to_keras_tuner(study.space)(hp)
    oracle.update_space(hp)


def config_of(study: Study, hyperparameters: Any) -> dict[str, Any]:
    """A trial's config (fixed values included); Hyperband's ``tuner/epochs`` sets the epochs."""
    config = spaces.to_keras_tuner(study.space)(hyperparameters)
    values = hyperparameters.values
    if "tuner/epochs" in values:
        config["epochs"] = int(values["tuner/epochs"])
    return config


def hyperband_tags(hyperparameters: Any) -> dict[str, str]:
    """Hyperband's bracket, round and the trial a round promotes (empty for other oracles)."""
    values = hyperparameters.values
    tags = {name: str(values[f"tuner/{name}"]) for name in ("bracket", "round") if f"tuner/{name}" in values}
    if "tuner/trial_id" in values:
        tags["promoted_from"] = str(values["tuner/trial_id"])
    return tags


def silence_stray_print() -> None:
    """Keep Keras Tuner 1.4's prints off the run's screen: ``Parent.to_proto`` prints each condition's
    first value (a leftover debug print) whenever a conditional trial crosses the gRPC service, and
    the oracle prints "Trial N failed..." on a retry (the supervisor already reports those). Shadow
    ``print`` in those two modules only."""
    from keras_tuner.src.engine import conditions, oracle

    conditions.print = lambda *args, **kwargs: None  # type: ignore[attr-defined]
    oracle.print = lambda *args, **kwargs: None  # type: ignore[attr-defined]
