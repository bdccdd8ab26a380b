"""Process lifetime, in one place: a child never outlives the tuneforge process that started it,
and SIGTERM stops a tuneforge process the way Ctrl-C does.

A parent names itself in the child's environment (:func:`child_env`); the child calls
:func:`die_with_parent` first thing. On Linux the kernel then sends the child SIGTERM
when its parent dies, even by ``kill -9`` (``prctl(PR_SET_PDEATHSIG)``); a watchdog
thread also notices a changed parent pid (other OSes, a parent that died before the
``prctl``, processes started by a pool rather than by us) and does the same. SIGTERM
in a tuneforge process raises KeyboardInterrupt in its main thread, so a stopped
child fails its running trial (queued for retry) and exits; one that has not exited
after the grace period is ended with ``os._exit``.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

PARENT_ENV = "TUNEFORGE_PARENT_PID"
_PR_SET_PDEATHSIG = 1
GRACE_SECONDS = 5.0  # an orphaned child that has not exited by then (its trial failed) is ended
WATCH_SECONDS = 1.0


_stop_signal: int | None = None  # the first SIGINT/SIGTERM of a process that called die_with_parent()


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _stop(signum: int, frame: Any) -> None:
    """A worker's SIGINT/SIGTERM: remembered (see :func:`raise_if_stopping`), then Ctrl-C."""
    global _stop_signal
    if _stop_signal is None:
        _stop_signal = signum
    raise KeyboardInterrupt


def raise_if_stopping() -> None:
    """Raise KeyboardInterrupt if this worker process was told to stop, before it takes new work.

    The first interrupt can be lost: a library that wraps an import in ``except:`` (or
    ``except BaseException``) swallows a KeyboardInterrupt raised inside it, and the worker
    would go on to take a trial it is about to abandon. Only processes that called
    :func:`die_with_parent` remember their stop signal; elsewhere this never raises.
    """
    if _stop_signal is not None:
        raise KeyboardInterrupt


def stop_on_sigterm() -> None:
    """SIGTERM (``timeout``, a scheduler, ``docker stop``) behaves like Ctrl-C in this process."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _interrupt)


def child_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """``env`` (default: this process's environment) naming this process as the parent of a child."""
    return {**(os.environ if env is None else env), PARENT_ENV: str(os.getpid())}


def _set_parent_death_signal(signum: int) -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return libc.prctl(_PR_SET_PDEATHSIG, int(signum), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


@contextlib.contextmanager
def interrupts_deferred(*, redeliver: bool = True) -> Iterator[None]:
    """SIGINT and SIGTERM wait until the block has run (main thread only; elsewhere a no-op).

    For the few storage writes that must happen whole: a trial created and handed to its
    worker, a lost trial failed *and* its retry queued. A signal that came meanwhile is
    delivered when the block ends (``redeliver=False``: dropped, for cleanup that runs
    because the process is already stopping).
    """
    global _stop_signal
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []

    def _record(signum: int, frame: Any) -> None:
        caught.append(signum)

    previous = {signum: signal.signal(signum, _record) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if caught and redeliver:
        signal.raise_signal(caught[0])
    elif caught and previous[caught[0]] is _stop:  # dropped, but the worker still knows it is stopping
        _stop_signal = _stop_signal or caught[0]


def _stop_self(grace: float, *, signalled: bool = False) -> None:
    if not signalled:
        os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(grace)
    os._exit(128 + signal.SIGTERM)  # the interrupt did not end it: end it


def _watch(parent: int, grace: float, signalled: bool) -> None:
    while os.getppid() == parent:
        time.sleep(WATCH_SECONDS)
    # When the kernel was told, its SIGTERM came with the parent's death: a second one would
    # interrupt the cleanup the first started (a lost trial failed but its retry never queued).
    _stop_self(grace, signalled=signalled)


def die_with_parent(parent: int | None = None, *, grace: float = GRACE_SECONDS, pool: bool = False) -> None:
    """Stop this process (SIGTERM, then ``os._exit`` after ``grace`` s) when ``parent`` dies.

    ``parent`` defaults to ``$TUNEFORGE_PARENT_PID``, else the current parent. Installs the
    handler that makes SIGINT and SIGTERM a remembered Ctrl-C (:func:`raise_if_stopping`) when
    called from the main thread. ``pool=True`` is for a process a
    pool started (joblib's loky workers): the watchdog only, SIGTERM left to end it as usual, since
    the kernel's signal follows the pool's spawning *thread*, which may end before the process does.
    """
    if parent is None:
        parent = int(os.environ.get(PARENT_ENV) or os.getppid())
    kernel_signals = False
    if not pool:
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):  # both stop it like Ctrl-C, and are remembered
                signal.signal(signum, _stop)
        kernel_signals = _set_parent_death_signal(signal.SIGTERM)
    if os.getppid() != parent:  # it died before the kernel was told
        threading.Thread(target=_stop_self, args=(grace,), name="tuneforge-orphan", daemon=True).start()
        return
    threading.Thread(target=_watch, args=(parent, grace, kernel_signals), name="tuneforge-parent-watch",
                     daemon=True).start()


def owner_is_dead(worker_id: str, host: str) -> bool:
    """Whether ``worker_id`` (``HOST-PID-...``, as tuneforge names workers) belongs to a process of this
    host that no longer runs: its trials were left RUNNING by a run that was killed."""
    if not worker_id.startswith(f"{host}-"):
        return False  # another machine's worker: only its heartbeats can tell
    try:
        pid = int(worker_id[len(host) + 1:].split("-", 1)[0])
    except ValueError:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


__all__ = ["PARENT_ENV", "child_env", "die_with_parent", "interrupts_deferred", "owner_is_dead", "raise_if_stopping",
           "stop_on_sigterm"]
