"""Errors of model building."""

from spaces import TuneforgeError


class ModelError(TuneforgeError):
    """A model cannot be built from the study's model section and a config."""
