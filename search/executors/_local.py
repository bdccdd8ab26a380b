"""The default executor: N worker processes on this machine, kept alive until the study's budget is spent.

A worker that dies (``kill -9``, out of memory) has its running trial failed,
marked lost and queued for one retry, its MLflow run marked FAILED, and its slot
restarted. Ctrl-C interrupts every worker: each fails its running trial (queued
for retry, so a later run resumes it) and exits; stragglers are killed and
recovered the same way.

Workers can start before the plan exists (:meth:`LocalProcesses.boot`): a worker's start
is mostly importing TensorFlow, which then overlaps the study's preparation. Each
worker reads its plan from stdin; one whose stdin closes without a plan exits quietly.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from search.executors._base import Executor, ExecutorReport, OnGone, OnLost, Tick, WorkerEnv
from search.workers import Slot
from search.workers._plan import RunPlan
from search.workers._processes import describe_exit, hand_over, kill_processes, start_worker, stop_processes
from spaces.core import WorkerError

EXIT_FATAL = 2  # the study is broken: every worker would fail the same way
EXIT_CRASH = 3  # a bug in tuneforge: restarting would repeat it


@dataclass
class _Worker:
    slot: Slot
    worker_id: str
    proc: subprocess.Popen
    log_path: Path
    restarts: int = 0
    handled: bool = False  # its exit has been dealt with


def _last_error(log_path: Path) -> str:
    try:
        lines = log_path.read_text(errors="replace").splitlines()
    except OSError:
        return "see the worker log"
    errors = [line for line in lines if line.startswith("error: ")]
    return errors[-1][len("error: "):] if errors else (lines[-1] if lines else "no output")


class LocalProcesses(Executor):
    """Owns the worker processes of one ``tuneforge run`` on this machine."""

    def __init__(self, slots: list[Slot], log_dir: Path, *, max_restarts: int = 3) -> None:
        self.plan: RunPlan | None = None  # set by run(); workers started by boot() wait for it
        self.slots = slots
        self.log_dir = log_dir
        self.max_restarts = max_restarts
        self.on_lost: OnLost | None = None
        self.worker_env: WorkerEnv | None = None
        self.retry_lost = True
        self.on_gone: OnGone | None = None
        self.workers: dict[int, _Worker] = {}
        self.report = ExecutorReport()
        self._host = socket.gethostname()
        self._spawned: set[str] = set()  # every worker id this supervisor started: only their trials are its own

    @property
    def size(self) -> int:
        return len(self.slots)

    # --- lifecycle -------------------------------------------------------------------
    def boot(self) -> None:
        """Start the worker processes before the plan exists: they import TensorFlow (the slowest part of a
        worker's start) while this process prepares the study, then wait for :meth:`run` to hand them the plan.
        """
        self.log_dir.mkdir(parents=True, exist_ok=True)
        for slot in self.slots:
            if slot.index not in self.workers:
                self.workers[slot.index] = self._spawn(slot, restarts=0)

    def abort(self) -> None:
        """Stop booted workers before they got a plan (the run failed while preparing): they hold no trial."""
        kill_processes(w.proc for w in self.workers.values())
        self.workers.clear()

    def _spawn(self, slot: Slot, *, restarts: int) -> _Worker:
        worker_id = f"{self._host}-{os.getpid()}-w{slot.index}" + (f"-r{restarts}" if restarts else "")
        log_path = self.log_dir / f"worker-{slot.index}" f"{'-r' + str(restarts) if restarts else ''}.log"
        proc = start_worker("search.workers", [worker_id, str(slot.index)], env=slot.env, log_path=log_path,
                            with_parent=True)
        worker = _Worker(slot, worker_id, proc, log_path, restarts)
        self._spawned.add(worker_id)
        if self.plan is not None:
            self._hand_plan(worker)
        return worker

    def _hand_plan(self, worker: _Worker) -> None:
        """Send the plan and the slot's run-time environment (Keras Tuner's oracle address) on its stdin."""
        env = self.worker_env(worker.slot.index) if self.worker_env else {}
        hand_over(worker.proc, self.plan.message(env))  # one that died while booting: poll() restarts it

    def alive(self) -> list[_Worker]:
        return [w for w in self.workers.values() if w.proc.poll() is None]

    def poll(self) -> None:
        """Handle workers that exited since the last poll."""
        for index, w in list(self.workers.items()):
            code = w.proc.poll()
            if code is None or code == 0 or w.handled:
                continue
            w.handled = True
            if code in (EXIT_FATAL, EXIT_CRASH):
                self.stop("another worker hit an error in the study")
                raise WorkerError(f"worker {index} stopped: {_last_error(w.log_path)}", hint=f"log: {w.log_path}")
            reason = f"worker {w.worker_id} died ({describe_exit(code)})"
            self.report.deaths.append(reason)
            self._recover({w.worker_id}, reason)
            if w.restarts < self.max_restarts and not self._deadline_passed():
                self.workers[index] = self._spawn(w.slot, restarts=w.restarts + 1)
                self.report.restarts += 1
            elif self.on_gone is not None:
                self.on_gone(index, reason)

    def _recover(self, workers: set[str] | None, reason: str) -> None:
        self._recover_lost(workers, reason, retry=self.retry_lost, on_lost=self.on_lost)

    def stop(self, reason: str) -> None:
        """Interrupt every worker, wait for them, kill stragglers, recover what they were running."""
        stop_processes(w.proc for w in self.workers.values())
        self._recover(set(self._spawned), reason)

    def run(self, plan: RunPlan, *, tick: Tick | None = None, on_lost: OnLost | None = None,
            worker_env: WorkerEnv | None = None, retry_lost: bool = True, on_gone: OnGone | None = None,
            interval: float = 0.5) -> ExecutorReport:
        """Hand ``plan`` to the workers (booting any not booted yet) and supervise until all have exited
        (see :meth:`Executor.run`)."""
        self.plan, self.on_lost, self.worker_env = plan, on_lost, worker_env
        self.retry_lost, self.on_gone = retry_lost, on_gone
        self._recover_dead_runs(retry=retry_lost, on_lost=on_lost)
        try:
            for w in self.workers.values():
                if not w.proc.stdin.closed:  # booted, still waiting for the plan
                    self._hand_plan(w)
            self.boot()  # the slots not booted yet start with the plan
            while True:
                self.poll()  # restarts dead workers, so "none alive" below means all are done
                if tick is not None:
                    tick()
                if not self.alive():
                    break
                time.sleep(interval)
        except KeyboardInterrupt:
            self.stop("interrupted (Ctrl-C)")
            raise
        self._recover(set(self._spawned), "its worker exited while it was running")  # orphans, if any
        # (only this run's: another run of the same study may be training right now)
        return self.report

