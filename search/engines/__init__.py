"""Search engines behind one contract (:class:`Engine`): Optuna now, Keras Tuner next."""

from search.engines._base import Engine, Ticket, TrialRecord

__all__ = ["Engine", "Ticket", "TrialRecord"]
