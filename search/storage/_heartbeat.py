"""Heartbeats on running trials, so a worker that dies with its machine (or ``kill -9``) is noticed.

A worker records a heartbeat for its running trial every ``interval`` seconds from a
background thread (Optuna's ``trial_heartbeats`` table; the time is the database
server's, so machines' clocks do not matter). Training in the main thread does
not stop the beat: a slow but alive worker is never marked dead. Any worker may
then fail a trial whose last beat is older than the grace period, through the
same path as any lost trial (``recover_lost_trials``: FAIL, ``lost``, exactly one
retry copy), under the study's lock so the budget stays exact.

Only SQL storages (PostgreSQL, MySQL, SQLite) have heartbeats; a journal file
storage is one machine's, where the worker's own supervisor sees it die.
"""

from __future__ import annotations

import contextlib
import functools
import threading
import warnings
from typing import Any

from spaces.core import Url, resolve_storage_url as parse_storage

HEARTBEAT_INTERVAL = 10  # seconds between beats
GRACE_PERIOD = 60  # seconds without a beat before a trial is failed


def supports_heartbeats(storage_url: str | Url) -> bool:
    """Heartbeats need Optuna's RDB storage."""
    return not parse_storage(storage_url).is_journal


@functools.lru_cache(maxsize=16)
def _rdb(storage_url: Url, *, interval: int, grace: int) -> Any:
    import optuna

    from search.storage._open import get_storage

    storage = get_storage(storage_url)
    if not isinstance(storage, optuna.storages.RDBStorage):
        return None
    # the engine's own storage object is left without heartbeat settings (Optuna would warn on ask())
    storage.heartbeat_interval, storage.grace_period = interval, grace
    return storage


class Heartbeat:
    """Beats for one running trial at a time from a daemon thread: ``start(trial_id)`` ... ``stop()``."""

    def __init__(self, storage_url: str | Url, *, interval: int = HEARTBEAT_INTERVAL) -> None:
        self.interval = interval
        self._storage = _rdb(parse_storage(storage_url), interval=interval, grace=2 * interval)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, trial_id: int) -> None:
        """Record a first beat now (before training starts), then one every ``interval`` seconds."""
        self.stop()
        if self._storage is None:
            return
        self._storage.record_heartbeat(trial_id)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, args=(trial_id, self._stop), daemon=True,
                                        name=f"heartbeat-{trial_id}")
        self._thread.start()

    def _beat(self, trial_id: int, stop: threading.Event) -> None:
        while not stop.wait(self.interval):
            try:
                self._storage.record_heartbeat(trial_id)
            except Exception:  # noqa: BLE001 - a lost connection: try again next beat
                pass

    def stop(self) -> None:
        """Stop beating (the trial ended)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.interval + 5)
            self._thread = None


def stale_trials(storage_url: str, study_name: str, *, grace: int) -> list[Any]:
    """RUNNING trials of the study whose last heartbeat is older than ``grace`` seconds."""
    import optuna

    storage = _rdb(parse_storage(storage_url), interval=max(1, grace // 2), grace=grace)
    if storage is None:
        return []
    study_id = storage.get_study_id_from_name(study_name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ids = set(storage._get_stale_trial_ids(study_id))
    running = storage.get_all_trials(study_id, deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
    ids |= _never_beaten(storage, study_id, running, grace=grace)
    return [t for t in running if t._trial_id in ids]


def _never_beaten(storage: Any, study_id: int, running: list[Any], *, grace: int) -> set[int]:
    """RUNNING trials that never had a heartbeat and started more than ``grace`` s ago: their worker died
    between starting them and its first beat (or never beat at all), and Optuna's staleness check, which
    only looks at recorded beats, would leave them RUNNING for ever."""
    import datetime

    import sqlalchemy

    if not running:
        return set()
    with storage.engine.connect() as conn:
        beaten = set(conn.execute(sqlalchemy.text(
            "SELECT h.trial_id FROM trial_heartbeats h JOIN trials t ON t.trial_id = h.trial_id "
            "WHERE t.study_id = :s"), {"s": study_id}).scalars())
    cutoff = datetime.datetime.now() - datetime.timedelta(seconds=grace)  # Optuna stamps starts in local time
    return {t._trial_id for t in running
            if t._trial_id not in beaten and t.datetime_start is not None and t.datetime_start < cutoff}


def fail_stale_trials(storage_url: str, study_name: str, *, grace: int, lock: Any = None) -> list[Any]:
    """Fail (lost, one retry each) the trials of workers that stopped beating; returns the LostTrials.

    ``lock`` (a :class:`~search.storage.StudyLock`) makes the failure and its retry copy one
    step for workers counting the budget.
    """
    from search.storage._recovery import recover_lost_trials

    if not stale_trials(storage_url, study_name, grace=grace):  # the common case: one cheap query
        return []
    reason = f"its worker stopped sending heartbeats (none for more than the {grace}s grace period)"
    with lock.hold() if lock is not None else contextlib.nullcontext():
        # again under the lock: another worker may have recovered them meanwhile
        workers = {t.user_attrs.get("worker") for t in stale_trials(storage_url, study_name, grace=grace)}
        if not workers:
            return []
        return recover_lost_trials(storage_url, study_name, workers=workers, reason=reason)
