"""Search engines behind one contract (:class:`Engine`): Optuna now, Keras Tuner next."""

from search.engines._base import Engine, Ticket, TrialRecord, best_of

__all__ = ["Engine", "Ticket", "TrialRecord", "best_of"]
