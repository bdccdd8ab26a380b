"""The engine contract every search engine implements.

A worker asks the engine for a config, trains it, reports each epoch (the engine
may prune), and finishes the trial. The engine owns the budget: ``ask`` returns
``None`` when the study has all the trials it needs or its deadline passed.
Every engine records its trials in the study storage (the ledger, :mod:`search.storage`),
so status, reports, recovery and the export read every engine's trials alike.

Capabilities are declared on the class, so callers never branch on an engine's name:
``supports_pruning`` (``report`` may raise ``Pruned``), ``needs_chief`` (the run serves
the engine's state to its workers: :meth:`Engine.start_chief`; such a study cannot be
submitted to ``tuneforge worker``), ``retries_lost`` (the engine itself retries a trial
whose worker died, so the executor only fails it).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from spaces.core import TrialState


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


class Chief(ABC):
    """What a ``needs_chief`` engine runs in the driver while its workers train."""

    @abstractmethod
    def executor_hooks(self) -> dict[str, Any]:
        """Keyword arguments for :meth:`search.executors.Executor.run` (``worker_env``, ``on_gone``...)."""

    @abstractmethod
    def stop(self) -> None:
        """Stop serving and save the engine's state."""


class Engine(ABC):
    """Ask for a config, report epochs, finish a trial, find the best trial."""

    name: str = ""
    supports_pruning: bool = False
    needs_chief: bool = False
    retries_lost: bool = False
    direction: str = "maximize"
    current: Ticket | None = None  # the trial this worker was handed and has not finished yet

    @classmethod
    @abstractmethod
    def for_plan(cls, study: Any, plan: Any, *, worker: str, index: int = 0, heartbeat: Any = None,
                 gate: Any = None) -> Engine:
        """This engine for one worker of ``plan`` (see :func:`search.engines.make_engine`)."""

    @classmethod
    def resume_key(cls, study: Any) -> str:
        """Which engine state a study's trials belong to; a study resumes only under the same key."""
        return cls.name

    @classmethod
    def start_chief(cls, study: Any, plan: Any, *, host: str = "127.0.0.1") -> Chief | None:
        """Start what the workers of ``plan`` talk to, listening on ``host`` (``needs_chief`` engines);
        None for the others."""
        return None

    @abstractmethod
    def ask(self) -> Ticket | None:
        """The next trial to train, or ``None`` when the budget is spent or time is up.

        Creating the trial and handing it over happen whole (signals deferred: see
        :func:`search._lifetime.interrupts_deferred`), and the ticket is :attr:`current` until
        ``finish`` or ``finish_lost``, so an interrupt at any point leaves no trial RUNNING.
        """

    @abstractmethod
    def report(self, ticket: Ticket, epoch: int, logs: Mapping[str, float]) -> None:
        """Record one epoch; raises :class:`search.training.Pruned` when the trial should stop."""

    @abstractmethod
    def finish(self, ticket: Ticket, state: TrialState, value: float | None, attrs: Mapping[str, Any]) -> None:
        """Record how the trial ended."""

    @abstractmethod
    def finish_lost(self, ticket: Ticket, reason: str) -> None:
        """End a trial whose training was interrupted: FAIL, marked lost, retried once (never counted)."""

    @abstractmethod
    def set_attrs(self, ticket: Ticket, attrs: Mapping[str, Any]) -> None:
        """Attach attributes to a running trial (its MLflow run id, its config)."""

    @abstractmethod
    def trials(self) -> list[TrialRecord]:
        """Every trial of the study, in number order."""

    def fail_current(self, reason: str) -> None:
        """Fail the trial this worker holds, if any, as lost (the worker is stopping)."""
        if self.current is not None:
            self.finish_lost(self.current, reason)

    def best(self) -> TrialRecord | None:
        """The best complete trial, or ``None``."""
        return best_of(self.trials(), self.direction)


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
