"""Errors of model building."""

from spaces import TuneforgeError


class ModelError(TuneforgeError):
    """A model cannot be built from the study's model section and a config."""


class BuilderFailed(RuntimeError):
    """The user's builder raised for one config: that trial fails, the search goes on.

    Not a :class:`TuneforgeError` on purpose: the trainer re-raises those (the study is
    wrong) but turns every other exception into a FAIL result.
    """
