"""The Optuna engine, its storages, samplers and pruners."""

from search.engines.optuna._algorithms import make_pruner, make_sampler
from search.engines.optuna._engine import LOST, OptunaEngine, counts_toward_budget, to_record
from search.engines.optuna._recovery import LostTrial, recover_lost_trials
from search.engines.optuna._storage import StorageError, open_storage, resolve_storage_url

__all__ = ["LOST", "LostTrial", "OptunaEngine", "StorageError", "counts_toward_budget", "make_pruner",
           "make_sampler", "open_storage", "recover_lost_trials", "resolve_storage_url", "to_record"]
