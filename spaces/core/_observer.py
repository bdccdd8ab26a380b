"""Trial observers: what the worker's trial loop tells the world, Keras-Tuner-hook style.

The loop (``search.workers.run_trial``) calls, for each trial, ``on_trial_begin``, then
``on_epoch_end`` after every epoch, then exactly one of ``on_trial_end`` (it trained,
was pruned or failed) or ``on_trial_lost`` (it was interrupted and will be retried);
``close`` once the worker is done. MLflow logging and the trial artifacts are one
observer (:class:`tracking.observer.MlflowObserver`); a new sink (a notebook progress
bar, say) is one more subclass. Every hook is optional.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from spaces.core._states import TrialState


@dataclass
class TrialInfo:
    """The trial a worker starts: its number, full config and where it runs."""

    number: int
    config: dict[str, Any]
    study_name: str
    metric: str  # the study's objective metric
    worker: str
    tags: dict[str, str] = field(default_factory=dict)  # engine and slot facts (device, retry_of, ...)


@dataclass
class TrialEnd:
    """How a trial ended. ``result`` is the training result with its Keras model, alive during the hook."""

    state: TrialState
    objective: float | None
    error: str | None = None
    result: Any = None
    extra: dict[str, float] = field(default_factory=dict)  # final metrics (n_params, epochs_trained)
    tags: dict[str, str] = field(default_factory=dict)  # duplicate_of, pruned_at_epoch


class TrialObserver:
    """Hooks of the worker's trial loop; subclasses override the ones they need."""

    def on_trial_begin(self, trial: TrialInfo) -> Mapping[str, Any]:
        """A trial starts; returns attributes to record with it in the study storage (e.g. a run id)."""
        return {}

    def on_epoch_end(self, trial: TrialInfo, epoch: int, logs: Mapping[str, float]) -> None:
        """One epoch of the trial finished (called before the engine may prune it)."""

    def on_trial_end(self, trial: TrialInfo, end: TrialEnd) -> None:
        """The trial ended and the engine recorded it."""

    def on_trial_lost(self, trial: TrialInfo, reason: str) -> None:
        """The trial was interrupted (Ctrl-C, SIGTERM); the engine failed it and queued a retry."""

    def close(self) -> None:
        """The worker is done: finish any work still pending (raise what failed)."""
