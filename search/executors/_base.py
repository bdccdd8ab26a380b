"""The executor contract: where trials run (local processes, a Ray cluster), never what they are."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

from search.workers._plan import RunPlan

Tick = Callable[[], None]  # called about twice a second while the run lasts (progress, reports)
OnLost = Callable[[list[Any], str], None]  # (the LostTrials, the reason) when workers went away mid-trial
WorkerEnv = Callable[[int], dict[str, str]]  # slot index -> what to add to that worker's environment
OnGone = Callable[[int, str], None]  # (slot index, reason) when a dead worker is not restarted


@dataclass
class ExecutorReport:
    """What happened to the workers during one run."""

    lost: list[Any] = field(default_factory=list)  # search.storage.LostTrial
    deaths: list[str] = field(default_factory=list)
    restarts: int = 0


class Executor(ABC):
    """Starts, watches and stops the workers of one run: where trials run, never what they are.

    A worker runs ``search.workers.work(plan, worker_id, index)`` until the budget is spent.
    The executor restarts a worker that dies, fails (and queues one retry of) the trial it
    was running through :func:`search.storage.recover_lost_trials`, and on Ctrl-C stops every
    worker so each fails its running trial for a later run to retry.
    """

    chief_host: str = "127.0.0.1"  # the address this executor's workers reach a chief on (Keras Tuner's oracle)
    dashboard: str | None = None  # a web page that shows the workers (Ray's dashboard), when there is one
    plan: RunPlan | None = None  # the plan being run (set by run)
    report: ExecutorReport  # what happened to the workers (set by the subclass)

    @property
    @abstractmethod
    def size(self) -> int:
        """How many workers run at once (the plan tells the engine, which shares its sampler out)."""

    def _deadline_passed(self) -> bool:
        """Whether the plan's deadline (``--timeout``) has passed: a dead worker is then not replaced."""
        return self.plan is not None and self.plan.deadline is not None and time.time() >= self.plan.deadline

    def _recover_lost(self, workers: Collection[str] | None, reason: str, *, retry: bool,
                      on_lost: OnLost | None) -> None:
        """Fail the RUNNING trials of ``workers`` (all: ``None``), one retry each unless the engine retries them
        itself, under the study's lock (a worker's "count the trials, then start one" must not interleave);
        record them in the report and tell ``on_lost``."""
        from search.storage import StudyLock, recover_lost_trials

        assert self.plan is not None
        with StudyLock(self.plan.storage_url, self.plan.study_name).hold():
            lost = recover_lost_trials(self.plan.storage_url, self.plan.study_name, workers=workers, reason=reason,
                                       retry=retry)
        self.report.lost.extend(lost)
        if lost and on_lost is not None:
            on_lost(lost, reason)

    def _recover_dead_runs(self, *, retry: bool, on_lost: OnLost | None) -> None:
        """Fail (and retry) the trials a killed run of this host left RUNNING (its processes are gone, or the
        notebook kernel that ran them inline); also queues the retries a ``kill -9`` cut off."""
        import socket

        import optuna

        from search._lifetime import owner_is_dead
        from search.storage import get_storage

        assert self.plan is not None
        host = socket.gethostname()
        study = optuna.load_study(study_name=self.plan.study_name, storage=get_storage(self.plan.storage_url))
        running = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
        dead = {w for t in running if (w := t.user_attrs.get("worker")) and owner_is_dead(w, host)}
        self._recover_lost(dead, "its run was killed before it could stop it", retry=retry, on_lost=on_lost)

    def share(self, dataset: Any) -> None:
        """The run's data, loaded once by the driver: an executor may ship it to its workers (no-op here)."""

    def close(self) -> None:
        """Release what the executor holds once the run is over (a cluster connection); no-op here."""

    def boot(self) -> None:
        """Start workers before the plan exists (their imports overlap the study's preparation); may be a no-op."""

    def abort(self) -> None:
        """Stop booted workers that never got a plan (they hold no trial)."""

    @abstractmethod
    def run(self, plan: RunPlan, *, tick: Tick | None = None, on_lost: OnLost | None = None,
            worker_env: WorkerEnv | None = None, retry_lost: bool = True,
            on_gone: OnGone | None = None) -> ExecutorReport:
        """Hand ``plan`` to the workers and supervise them until the budget is spent; Ctrl-C stops them.

        ``on_lost(trials, reason)`` hears of trials whose worker died; ``worker_env(index)`` adds to a
        worker's environment (Keras Tuner's tuner id, say); ``retry_lost=False`` fails lost trials without
        queueing a retry copy (the engine retries them itself); ``on_gone(index, reason)`` is called when a
        dead worker is not restarted.
        """

    @abstractmethod
    def stop(self, reason: str) -> None:
        """Interrupt every worker (each fails its running trial, queued for retry), wait, recover the rest."""
