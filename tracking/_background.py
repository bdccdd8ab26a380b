"""A worker's background lane: per-trial plots, artifact uploads and the run's end, off the critical path.

One thread runs the jobs in the order they were submitted, so a trial's MLflow run
is ended only after its artifacts are logged. The queue is short (the next trial
waits when too much is pending) and always drained before the worker exits: by
:func:`drain`, and at interpreter exit (``atexit``) whatever path the exit takes.
A job's exception is printed to the worker log and raised again from the next
:meth:`Background.submit` or :meth:`Background.drain`, so a broken tracking store
still stops the worker as it did when the work ran inline.
"""

from __future__ import annotations

import atexit
import sys
import threading
import traceback
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

MAX_PENDING = 2  # jobs queued or running before submit() waits for the oldest


class Background:
    """A single-thread, ordered job queue that is drained before the process exits."""

    def __init__(self, max_pending: int = MAX_PENDING) -> None:
        self.max_pending = max_pending
        self._executor: ThreadPoolExecutor | None = None
        self._pending: list[Future] = []
        self._error: BaseException | None = None
        self._lock = threading.Lock()

    def submit(self, job: Callable[[], None]) -> None:
        """Queue ``job``; first wait until fewer than ``max_pending`` jobs are outstanding."""
        self._wait(self.max_pending - 1)
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tuneforge-background")
                atexit.register(self.drain)
            self._pending.append(self._executor.submit(self._run, job))

    def drain(self) -> None:
        """Wait for every queued job; raise the first error a job had (once)."""
        self._wait(0)

    def _wait(self, keep: int) -> None:
        while len(self._pending) > max(0, keep):
            self._pending.pop(0).result()
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def _run(self, job: Callable[[], None]) -> None:
        try:
            job()
        except BaseException as exc:  # noqa: BLE001 - reported to the log and re-raised on the main thread
            traceback.print_exc(file=sys.stderr)
            if self._error is None:
                self._error = exc


_LANE = Background()


def background() -> Background:
    """This process's background lane."""
    return _LANE


def drain() -> None:
    """Finish every queued background job of this process (call before a worker exits)."""
    _LANE.drain()
