"""Trial states now live in the neutral core (:mod:`spaces.core`); this name stays for existing imports."""

from spaces.core import TrialState

__all__ = ["TrialState"]
