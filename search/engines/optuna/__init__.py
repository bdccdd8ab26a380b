"""The Optuna engine, its samplers and pruners (its storage is :mod:`search.storage`, every engine's ledger)."""

from search.engines.optuna._algorithms import make_pruner, make_sampler
from search.engines.optuna._engine import (
    OptunaEngine,
    sampler_seed,
    searched_params,
    to_record,
)

__all__ = ["OptunaEngine", "make_pruner", "make_sampler", "sampler_seed", "searched_params", "to_record"]
