"""The engine contract every search engine implements.

A worker asks the engine for a config, trains it, reports each epoch (the engine
may prune), and finishes the trial. The engine owns the budget: ``ask`` returns
``None`` when the study has all the trials it needs or its deadline passed.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from search.states import TrialState


@dataclass
class Ticket:
    """A trial handed to a worker: its number, its full config (fixed values included)."""

    number: int
    config: dict[str, Any]
    handle: Any = None  # the engine's own trial object
    duplicate_of: int | None = None  # an identical finished trial whose result can be reused
    retry_of: int | None = None
    tags: dict[str, str] = field(default_factory=dict)  # engine facts for the trial's MLflow run


@dataclass
class TrialRecord:
    """A finished or running trial as the engine stored it."""

    number: int
    state: TrialState
    value: float | None
    config: dict[str, Any]
    attrs: dict[str, Any] = field(default_factory=dict)


class Engine(ABC):
    """Ask for a config, report epochs, finish a trial, find the best trial."""

    name: str = ""

    @abstractmethod
    def ask(self) -> Ticket | None:
        """The next trial to train, or ``None`` when the budget is spent or time is up."""

    @abstractmethod
    def report(self, ticket: Ticket, epoch: int, logs: Mapping[str, float]) -> None:
        """Record one epoch; raises :class:`search.training.Pruned` when the trial should stop."""

    @abstractmethod
    def finish(self, ticket: Ticket, state: TrialState, value: float | None, attrs: Mapping[str, Any]) -> None:
        """Record how the trial ended."""

    @abstractmethod
    def trials(self) -> list[TrialRecord]:
        """Every trial of the study, in number order."""

    def best(self) -> TrialRecord | None:
        """The best complete trial, or ``None``."""
        return best_of(self.trials(), self.direction)

    direction: str = "maximize"


def tie_loss(trial: TrialRecord) -> float:
    """The trial's validation loss at its best epoch (``attrs["val_loss"]``), +inf when unknown."""
    loss = trial.attrs.get("val_loss")
    return float(loss) if isinstance(loss, (int, float)) and loss == loss else float("inf")


def best_of(trials: list[TrialRecord], direction: str) -> TrialRecord | None:
    """The best complete trial, or ``None``.

    Ties on the objective (common on small validation splits: several trials at
    val_accuracy 1.0) go to the lower validation loss, then to the earliest trial.
    """
    complete = [t for t in trials if t.state is TrialState.COMPLETE and t.value is not None]
    if not complete:
        return None
    sign = 1.0 if direction == "maximize" else -1.0
    return max(complete, key=lambda t: (sign * t.value, -tie_loss(t), -t.number))  # type: ignore[operator]
