"""The Optuna engine: ask/tell on a shared study, with an exact budget and grid points once each.

Counting the trials and starting the next one happen under the study's lock, so
N workers never overshoot the budget. Trials lost to a dead or interrupted worker
are marked (``lost``) and do not count: their retry copy (WAITING) takes their
place and is always served first.
"""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import optuna
from optuna.trial import TrialState as OState

import spaces
from search._lifetime import interrupts_deferred
from search.engines._base import Engine, Ticket, TrialRecord
from search.engines.optuna._algorithms import make_pruner, make_sampler
from search.models import value
from search.spec import Study
from search.storage import LOST, StudyLock, counts_toward_budget, enqueue_retry, get_storage
from spaces.core import TrialState, Url

def sampler_seed(seed: int | None, index: int, existing_trials: int) -> int | None:
    """The seed of worker ``index``'s sampler: the study seed for a fresh study's first worker.

    Other workers, and every worker of a resumed study, get a seed derived from
    (seed, existing trials, index), so a resumed study does not replay its first configs.
    """
    if seed is None:
        return None
    if index == 0 and existing_trials == 0:
        return seed
    import numpy as np

    return int(np.random.SeedSequence([seed, existing_trials, index]).generate_state(1)[0])


def searched_params(study: Study, config: Mapping[str, Any]) -> dict[str, Any]:
    """The config without fixed values: what Optuna stores as params."""
    return {k: v for k, v in config.items() if not isinstance(study.space.param_of(k), spaces.Fixed)}


class OptunaEngine(Engine):
    """One worker's view of a shared Optuna study."""

    name = "optuna"
    supports_pruning = True

    @classmethod
    def for_plan(cls, study: Study, plan: Any, *, worker: str, index: int = 0, heartbeat: Any = None,
                 gate: Callable[[], bool] | None = None) -> OptunaEngine:
        """Worker ``index``'s engine: its sampler seeded by :func:`sampler_seed`."""
        existing = optuna.load_study(study_name=study.name, storage=get_storage(plan.storage_url))
        seed = sampler_seed(plan.sampler_seed, index, len(existing.get_trials(deepcopy=False)))
        return cls(study, plan.storage_url, budget=plan.budget, deadline=plan.deadline, seed=seed,
                   parallel=plan.workers > 1, worker=worker, heartbeat=heartbeat, gate=gate)

    def __init__(self, study: Study, storage_url: str | Url, *, budget: int, deadline: float | None = None,
                 seed: int | None = None, parallel: bool = False, worker: str = "",
                 heartbeat: Any = None, gate: Callable[[], bool] | None = None) -> None:
        """``heartbeat`` (a :class:`Heartbeat`) beats for each running trial; ``gate()`` is asked under the
        study's lock before a new trial starts, and False means no new trial (a paused study)."""
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
        self.study = study
        self.worker = worker
        self.heartbeat = heartbeat
        self.gate = gate
        self.direction = study.direction
        self.algorithm = study.spec.search.algorithm or "tpe"
        self.deadline = deadline
        self.storage_url = storage_url
        self.lock = StudyLock(storage_url, study.name)
        self.optuna_study = optuna.load_study(
            study_name=study.name,
            storage=get_storage(storage_url),
            sampler=make_sampler(self.algorithm, seed=seed, parallel=parallel),
            pruner=make_pruner(study.spec.search.pruner, max_epochs=int(value(self._fixed(), "epochs"))),
        )
        self.suggest = spaces.to_optuna(study.space)
        self.grid: list[dict[str, Any]] | None = None
        if self.algorithm == "grid":
            self.grid = [searched_params(study, c) for c in spaces.iter_grid(study.space, study.spec.grid.points)]
            budget = min(budget, len(self.grid))
        self.budget = budget

    def _fixed(self) -> dict[str, Any]:
        return {p.name: p.value for p in self.study.space if isinstance(p, spaces.Fixed)}

    # --- the contract ------------------------------------------------------------------
    def ask(self) -> Ticket | None:
        if self.deadline is not None and time.time() >= self.deadline:
            return None
        with self.lock.hold():
            if self.gate is not None and not self.gate():
                return None
            trials = self.optuna_study.get_trials(deepcopy=False)
            if not any(t.state == OState.WAITING for t in trials):
                if sum(counts_toward_budget(t) for t in trials) >= self.budget:
                    return None
                if self.grid is not None:
                    point = self._next_grid_point(trials)
                    if point is None:
                        return None
                    self.optuna_study.enqueue_trial(point)
            with interrupts_deferred():  # a trial exists only once its worker holds it (self.current)
                trial = self.optuna_study.ask()
                trial.set_user_attr("worker", self.worker)  # recovery finds a dead worker's trials by it
                system_attrs = self.optuna_study._storage.get_trial_system_attrs(trial._trial_id)
                self.current = ticket = Ticket(trial.number, {}, handle=trial,
                                               retry_of=system_attrs.get("failed_trial"))
            if self.heartbeat is not None:
                self.heartbeat.start(trial._trial_id)
            ticket.config = self.suggest(trial)  # under the lock: a parallel sampler sees the others' params
        if self.grid is None:
            ticket.duplicate_of = self._duplicate(trial.number, searched_params(self.study, ticket.config))
        return ticket

    def report(self, ticket: Ticket, epoch: int, logs: Mapping[str, float]) -> None:
        trial: optuna.Trial = ticket.handle
        metric = self.study.metric
        if metric in logs:
            trial.report(float(logs[metric]), step=epoch)
            if trial.should_prune():
                from search.training import Pruned  # lazily: it is a Keras callback's module (TensorFlow)

                raise Pruned(f"pruned at epoch {epoch}")

    def finish(self, ticket: Ticket, state: TrialState, value: float | None, attrs: Mapping[str, Any]) -> None:
        trial: optuna.Trial = ticket.handle
        for key, attr in attrs.items():
            trial.set_user_attr(key, attr)
        try:
            with interrupts_deferred():  # told and no longer current, or neither
                if state is TrialState.COMPLETE:
                    self.optuna_study.tell(trial, float(value))  # type: ignore[arg-type]
                else:
                    self.optuna_study.tell(trial, state=state.to_optuna())
                self.current = None
        finally:
            self._stop_heartbeat()

    def fail_current(self, reason: str) -> None:
        """Fail the trial this worker took but never trained (it is stopping): retried even if it is a retry."""
        if self.current is not None:
            self.finish_lost(self.current, reason, untried=True)

    def finish_lost(self, ticket: Ticket, reason: str, *, untried: bool = False) -> None:
        """End a trial whose training was interrupted: FAIL, marked lost, one retry queued.

        Whole (a second signal waits) and under the study's lock, so recovery elsewhere never
        sees it failed without its retry (:func:`search.storage.recover_lost_trials` repairs
        that state when a ``kill -9`` came in between).
        """
        trial: optuna.Trial = ticket.handle
        with interrupts_deferred(redeliver=False), self.lock.hold():
            trial.set_user_attr(LOST, reason)
            self.optuna_study.tell(trial, state=OState.FAIL)
            self.current = None
            self._stop_heartbeat()
            enqueue_retry(self.optuna_study, self.optuna_study._storage.get_trial(trial._trial_id), untried=untried)

    def set_attrs(self, ticket: Ticket, attrs: Mapping[str, Any]) -> None:
        """Attach attributes to a running trial (worker id, MLflow run id)."""
        for key, attr in attrs.items():
            ticket.handle.set_user_attr(key, attr)

    def trials(self) -> list[TrialRecord]:
        return [to_record(t) for t in self.optuna_study.get_trials(deepcopy=False)]

    # --- helpers -----------------------------------------------------------------------
    def _stop_heartbeat(self) -> None:
        if self.heartbeat is not None:
            self.heartbeat.stop()

    def _next_grid_point(self, trials: list[optuna.trial.FrozenTrial]) -> dict[str, Any] | None:
        assert self.grid is not None
        taken = [t.params for t in trials if not (t.state == OState.FAIL and LOST in t.user_attrs)]
        taken += [t.system_attrs.get("fixed_params", {}) for t in trials if t.state == OState.WAITING]
        for point in self.grid:
            if point not in taken:
                return point
        return None

    def _duplicate(self, number: int, params: Mapping[str, Any]) -> int | None:
        for t in self.optuna_study.get_trials(deepcopy=False, states=(OState.COMPLETE,)):
            if t.number != number and t.params == dict(params):
                return t.number
        return None


def to_record(trial: optuna.trial.FrozenTrial) -> TrialRecord:
    """An Optuna trial as a TrialRecord (config from the ``config`` attr when present)."""
    config = trial.user_attrs.get("config")
    config = json.loads(config) if isinstance(config, str) else dict(trial.params)
    return TrialRecord(trial.number, TrialState.from_optuna(trial.state), trial.value, config,
                       dict(trial.user_attrs))
