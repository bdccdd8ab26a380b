"""``pause``, ``resume`` and ``cancel``: status changes that workers honour between trials."""

from __future__ import annotations

from search.storage import StudyLock, Url
from search.control._store import ControlError, ControlStore, Status, StudyRecord

_TRANSITIONS: dict[str, tuple[tuple[Status, ...], str]] = {
    "pause": ((Status.QUEUED, Status.RUNNING), "queued or running"),
    "resume": ((Status.PAUSED,), "paused"),
    "cancel": ((Status.QUEUED, Status.RUNNING, Status.PAUSED), "queued, running or paused"),
}


def change_status(storage_url: str | Url, name: str, action: str) -> tuple[StudyRecord, StudyRecord]:
    """Apply ``action`` (pause | resume | cancel) to study ``name``; returns the record before and after.

    The change is made under the study's lock, the same lock a worker holds while it
    checks the status and starts a trial: once this returns, no new trial starts in a
    paused or cancelled study (trials already running finish).
    """
    allowed, described = _TRANSITIONS[action]
    store = ControlStore(storage_url)
    before = store.require(name)
    if before.status not in allowed:
        raise ControlError(f"cannot {action} study '{name}': it is {before.status.value}, and only a "
                           f"{described} study can be {'resumed' if action == 'resume' else action + 'ed'}"
                           .replace("canceled", "cancelled"),
                           hint="see the studies and their status: tuneforge status --storage URL")
    if action == "pause":
        target = Status.PAUSED
    elif action == "cancel":
        target = Status.CANCELLED
    else:
        target = Status.RUNNING if before.started_at is not None else Status.QUEUED
    with StudyLock(storage_url, name).hold():
        if not store.set_status(name, target, only_from=allowed):
            now = store.require(name)
            raise ControlError(f"cannot {action} study '{name}': it became {now.status.value} meanwhile")
    after = store.require(name)
    if target is Status.CANCELLED:
        _end_parent_run(after, "KILLED")
    return before, after


def _end_parent_run(record: StudyRecord, status: str) -> None:
    """Close the study's MLflow parent run (best effort: the control table is what workers obey)."""
    run_id = record.plan.get("parent_run_id")
    if not run_id:
        return
    try:
        from tracking.mlflow_log import client_for

        client_for(record.tracking_uri).set_terminated(run_id, status=status)
    except Exception:  # noqa: BLE001 - an unreachable tracking server must not block a cancel
        pass


__all__ = ["change_status"]
