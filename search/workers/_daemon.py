"""``tuneforge worker``: a long-running worker that serves submitted studies from a shared storage.

The daemon itself trains nothing and never imports TensorFlow. It starts one slot
process per planned slot (GPU x trials-per-GPU, or CPU shares), each with its slot's
environment; a slot process chooses studies from the control table and trains
trials (search.workers._slot). A slot process is recycled after
``max_trials_per_process`` trials (1: a fresh process per trial), so TensorFlow's
memory cannot pile up over a long study. A slot process that dies has its running
trial failed, marked lost and retried once, and its MLflow run marked FAILED; the
slot is started again. If the daemon itself is killed, its slot processes die with
it (the kernel's parent-death signal) and the other workers fail their trials once
their heartbeats are older than the grace period.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from search.control import ACTIVE, ControlStore
from search.workers._processes import describe_exit, start_worker, stop_processes
from search.workers._slot import EXIT_CRASH, EXIT_FATAL, EXIT_NO_WORK, EXIT_RECYCLE, SlotConfig
from search.workers._slots import Slot
from spaces.core import Url, WorkerError

MAX_FAILURES = 3  # a slot that fails this many times in a row (without finishing a trial) stops the worker


@dataclass
class DaemonOptions:
    """``tuneforge worker``'s options."""

    storage_url: Url
    study: str | None = None  # None: every active study (--all)
    wait: bool = False  # keep running when there is no work, for studies submitted later
    max_trials_per_process: int = 25  # 0: never recycle; 1: a fresh process per trial
    tracking_uri: str | None = None
    poll: float = 5.0  # seconds between looks for new work with --wait
    trust_builders: bool = False  # run builder code named in the storage (search.models._trust)


@dataclass
class _Process:
    slot: Slot
    worker_id: str
    proc: subprocess.Popen


@dataclass
class DaemonReport:
    """What the worker did: processes started, recycled, lost."""

    started: int = 0
    recycled: int = 0
    deaths: list[str] = field(default_factory=list)
    lost_trials: list[tuple[str, int]] = field(default_factory=list)


class Daemon:
    """Keeps one slot process per slot alive while there is work."""

    def __init__(self, options: DaemonOptions, slots: list[Slot],
                 log: Callable[[str], None] = lambda m: print(m, file=sys.stderr, flush=True)) -> None:
        self.options = options
        self.slots = slots
        self.log = log
        self.store = ControlStore(options.storage_url)
        self.report = DaemonReport()
        self.processes: dict[int, _Process] = {}
        self.failures: dict[int, int] = {s.index: 0 for s in slots}
        self.generation = 0
        self._idle_since: dict[int, float] = {}
        self._prefix = f"{socket.gethostname()}-{os.getpid()}"

    # --- work ------------------------------------------------------------------------
    def has_work(self) -> bool:
        """A study this worker serves is queued or running."""
        if self.options.study is not None:
            record = self.store.require(self.options.study)
            return record.active
        return bool(self.store.list(ACTIVE))

    def _spawn(self, slot: Slot) -> _Process:
        self.generation += 1
        worker_id = f"{self._prefix}-s{slot.index}-p{self.generation}"
        config = SlotConfig(storage_url=self.options.storage_url, worker_id=worker_id, study=self.options.study,
                            max_trials=self.options.max_trials_per_process, tracking_uri=self.options.tracking_uri,
                            poll=min(2.0, self.options.poll), trust_builders=self.options.trust_builders)
        # the config (the storage URL, password included) goes to the slot's stdin, never its command line
        proc = start_worker("search.workers._slot", [], env=slot.env, stdin=config.to_json() + "\n",
                            with_parent=True)
        self.report.started += 1
        return _Process(slot, worker_id, proc)

    # --- failures --------------------------------------------------------------------
    def _recover(self, worker_ids: set[str], reason: str) -> None:
        """Fail (lost, one retry each) the running trials of dead slot processes in every study."""
        from search.storage import StudyLock, recover_lost_trials
        from tracking.mlflow_log import client_for, fail_run

        for record in self.store.list():
            try:
                with StudyLock(self.options.storage_url, record.name).hold():
                    lost = recover_lost_trials(self.options.storage_url, record.name, workers=worker_ids,
                                               reason=reason)
            except KeyError:  # deleted from the storage
                continue
            for trial in lost:
                self.report.lost_trials.append((record.name, trial.number))
                self.log(f"study '{record.name}': trial {trial.number} failed ({reason}); "
                         f"{'queued for retry' if trial.retried else 'not retried again'}")
                if trial.mlflow_run_id:
                    try:
                        fail_run(client_for(self.options.tracking_uri or record.tracking_uri), trial.mlflow_run_id,
                                 reason)
                    except Exception as exc:  # noqa: BLE001 - the study storage already knows
                        self.log(f"could not mark MLflow run {trial.mlflow_run_id} FAILED: {exc}")

    def _reap(self) -> None:
        """Handle slot processes that exited."""
        for index, p in list(self.processes.items()):
            code = p.proc.poll()
            if code is None:
                continue
            del self.processes[index]
            if code == EXIT_RECYCLE:
                self.report.recycled += 1
                self.failures[index] = 0
                continue
            if code == EXIT_NO_WORK:
                self.failures[index] = 0
                self._idle_since[index] = time.monotonic()
                continue
            if code == EXIT_FATAL:
                self.stop("another slot hit an error in the storage")
                raise WorkerError(f"slot {index} stopped on an error (see the log above)")
            reason = f"its worker process {p.worker_id} died ({describe_exit(code)})"
            self.report.deaths.append(reason)
            self.log(f"slot {index}: {reason}")
            self._recover({p.worker_id}, reason)
            self.failures[index] += 1
            if code == EXIT_CRASH and self.failures[index] >= MAX_FAILURES:
                self.stop("a slot keeps crashing")
                raise WorkerError(f"slot {index} crashed {MAX_FAILURES} times in a row (see the log above)")

    def stop(self, reason: str) -> None:
        """Interrupt every slot process (its running trial is failed and queued for retry) and wait."""
        stop_processes(p.proc for p in self.processes.values())
        ids = {p.worker_id for p in self.processes.values()}
        self.processes.clear()
        if ids:
            self._recover(ids, f"its worker was stopped ({reason})")

    # --- the loop --------------------------------------------------------------------
    def run(self, interval: float = 0.5) -> DaemonReport:
        """Serve until no study has work left (or forever with ``wait``); Ctrl-C / SIGTERM stop cleanly."""
        try:
            while True:
                self._reap()
                free = [s for s in self.slots if s.index not in self.processes]
                if free and self.has_work():
                    for slot in free:
                        idle = self._idle_since.pop(slot.index, None)
                        if idle is not None and time.monotonic() - idle < self.options.poll:
                            self._idle_since[slot.index] = idle  # it just found nothing: do not churn
                            continue
                        self.processes[slot.index] = self._spawn(slot)
                if not self.processes:
                    if not self.options.wait and not self.has_work():
                        return self.report
                    time.sleep(self.options.poll if not self.has_work() else interval)
                    continue
                time.sleep(interval)
        except KeyboardInterrupt:
            self.stop("interrupted")
            raise
