"""``executor="inline"``: one worker in the calling process (a notebook's kernel, a script).

No process starts, so nothing is imported twice: TensorFlow loads once per session, and
the second ``search.run(...)`` of a notebook trains at once instead of after a worker's
start (about 7 s of imports on 2 cores). The price is isolation: one worker whatever the
study's ``workers`` says, a trial that kills the interpreter (out of memory) takes the
caller with it (the next run fails it and queues its retry, as for a killed worker), and
no slot plan is made: TensorFlow keeps the caller's threads and devices, with no GPU
memory cap (``gpus`` and ``trials_per_gpu`` are refused by the driver's executor choice).
Ctrl-C (a notebook's stop button) fails the running trial and queues its retry, as in a
worker process.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from search.executors._base import (
    Executor,
    ExecutorReport,
    OnGone,
    OnLost,
    Tick,
    WorkerEnv,
)
from search.workers._plan import RunPlan
from spaces.core import SpecError, TrialEnd, TrialInfo, TrialObserver


class _Ticks(TrialObserver):
    """The driver's tick (progress, report refresh) after each trial: nothing else runs it meanwhile."""

    def __init__(self, tick: Tick) -> None:
        self.tick = tick

    def on_trial_end(self, trial: TrialInfo, end: TrialEnd) -> None:
        self.tick()


@contextlib.contextmanager
def _environment(extra: Mapping[str, str]) -> Iterator[None]:
    """``extra`` added to ``os.environ`` for the block (what a worker process would have got), then undone."""
    saved = {key: os.environ.get(key) for key in extra}
    os.environ.update(extra)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


class InProcess(Executor):
    """Runs the worker loop (:func:`search.workers.work`) in this process, on the calling thread."""

    def __init__(self, slots: list[Any], log_dir: Path, **options: Any) -> None:  # slots: not applied here
        if options:
            raise SpecError(f"the inline executor takes no options, got {', '.join(sorted(options))}",
                            path=("executor_options",), hint="leave them out, or use the local executor")
        self.report = ExecutorReport()
        self.worker_id = f"{socket.gethostname()}-{os.getpid()}-inline"
        self._dataset: Any = None

    @property
    def size(self) -> int:
        return 1

    def share(self, dataset: Any) -> None:
        """The driver's dataset, used as it is: this worker loads nothing again."""
        self._dataset = dataset

    def run(self, plan: RunPlan, *, tick: Tick | None = None, on_lost: OnLost | None = None,
            worker_env: WorkerEnv | None = None, retry_lost: bool = True,
            on_gone: OnGone | None = None) -> ExecutorReport:
        """Train until the budget is spent; on any exception the trial left running is failed (and retried)."""
        from search.workers import work

        self.plan = plan
        self._recover_dead_runs(retry=retry_lost, on_lost=on_lost)  # a kernel that died mid-trial, say
        extra = worker_env(0) if worker_env is not None else {}
        try:
            with _environment(extra):
                work(plan, self.worker_id, 0, dataset=self._dataset, also=[_Ticks(tick)] if tick else [])
        except BaseException as exc:
            reason = "interrupted (Ctrl-C)" if isinstance(exc, KeyboardInterrupt) else f"the run failed: {exc}"
            try:
                self._recover_lost({self.worker_id}, reason, retry=retry_lost, on_lost=on_lost)
            except BaseException:  # noqa: BLE001, S110 - the run's own error is the one to show
                pass
            raise
        if tick is not None:
            tick()
        return self.report

    def stop(self, reason: str) -> None:
        """Nothing runs outside this call: the worker loop has already failed its trial on the way out."""
