"""Train one config and tell how it went: the only thing engines ask of training."""

from search.training._callbacks import Pruned
from search.training._result import TrainResult
from search.training._trainer import evaluate, fast_settings, fit_split, train_config

__all__ = ["Pruned", "TrainResult", "evaluate", "fast_settings", "fit_split", "train_config"]
