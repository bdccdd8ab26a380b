"""Search engines behind one contract (:class:`Engine`), chosen by :func:`make_engine`."""

from search.engines._base import Chief, Engine, Ticket, TrialRecord, best_of
from search.engines._factory import ENGINES, engine_class, make_engine

__all__ = ["ENGINES", "Chief", "Engine", "Ticket", "TrialRecord", "best_of", "engine_class", "make_engine"]
