"""Starting and stopping worker processes, written once for the run's workers and the daemon's slots.

Each worker runs in its own process group (its own session), so a stop reaches the
worker and anything it started. Secrets never go on a command line: what a process
needs (its plan, its storage URL) is written to its stdin.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from pathlib import Path

from search._lifetime import child_env

STOP_GRACE_SECONDS = 30.0


def start_worker(module: str, args: Iterable[str], *, env: Mapping[str, str], log_path: Path | None = None,
                 stdin: str | None = None, with_parent: bool = False) -> subprocess.Popen:
    """``python -m module args...`` in a new process group, ``env`` added to this process's environment.

    ``stdin`` is written to the process and its stdin closed; ``None`` leaves the pipe open for
    :func:`hand_over` later (a booted worker waits for its plan there). Output goes to ``log_path``
    (or this process's stderr). ``with_parent``: the child is told who its parent is
    (:func:`search._lifetime.child_env`) and stops when it dies (it calls :func:`search._lifetime.die_with_parent`).
    """
    log = open(log_path, "w") if log_path is not None else None  # noqa: SIM115 - the child keeps its copy
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", module, *args], stdin=subprocess.PIPE, stdout=log,
            stderr=subprocess.STDOUT if log is not None else None, env={**(child_env() if with_parent else os.environ), **env},
            start_new_session=True, text=True,
        )
    finally:
        if log is not None:
            log.close()
    if stdin is not None:
        hand_over(proc, stdin)
    return proc


def hand_over(proc: subprocess.Popen, text: str) -> None:
    """Write ``text`` to the process's stdin and close it (a process that already died is left to its reaper)."""
    try:
        proc.stdin.write(text)
    except (BrokenPipeError, OSError):
        pass
    try:
        proc.stdin.close()
    except (BrokenPipeError, OSError):
        pass


def _signal(proc: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass


def stop_processes(procs: Iterable[subprocess.Popen], *, grace: float = STOP_GRACE_SECONDS) -> None:
    """Interrupt each process group (SIGINT: a worker fails its running trial and exits), wait up to
    ``grace`` seconds in all, then kill the stragglers' groups."""
    procs = list(procs)
    for proc in procs:
        if proc.poll() is None:
            _signal(proc, signal.SIGINT)
    deadline = time.monotonic() + grace
    for proc in procs:
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            _signal(proc, signal.SIGKILL)
            proc.wait()


def kill_processes(procs: Iterable[subprocess.Popen]) -> None:
    """Kill each process group at once and reap it (workers that hold no trial yet)."""
    for proc in procs:
        _signal(proc, signal.SIGKILL)
        proc.wait()


def describe_exit(code: int) -> str:
    """``killed by SIGKILL`` or ``exit status 3``."""
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit status {code}"
