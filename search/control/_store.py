"""The study control table: which submitted studies exist, their status, priority and plan."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum
from typing import Any

import sqlalchemy as sa

from search.storage import cannot_open, control_url, ensure_schema, sql_engine, studies
from search.storage import resolve_storage_url as parse_storage
from spaces.core import TuneforgeError, Url


class Status(str, Enum):
    """Where a submitted study stands."""

    QUEUED = "queued"  # submitted, no worker has taken a trial yet
    RUNNING = "running"
    PAUSED = "paused"  # workers take no new trial until it is resumed
    DONE = "done"  # budget spent (or deadline passed) and every trial finished
    CANCELLED = "cancelled"  # ended by the user; its finished trials are kept
    FAILED = "failed"  # the study itself is broken (its data cannot be loaded, say); see ``error``


ACTIVE = (Status.QUEUED, Status.RUNNING)  # workers take trials from these


class ControlError(TuneforgeError):
    """A study control request that cannot be done (unknown study, wrong status)."""


@dataclass(frozen=True)
class StudyRecord:
    """One row of the control table."""

    name: str
    status: Status
    priority: int
    spec: dict[str, Any]
    plan: dict[str, Any]
    tracking_uri: str
    heartbeat_interval: int
    grace_period: int
    error: str | None
    submitted_at: float
    started_at: float | None
    updated_at: float
    finished_at: float | None

    @property
    def active(self) -> bool:
        return self.status in ACTIVE

    @property
    def deadline(self) -> float | None:
        """Unix time the study stops taking trials (its timeout counted from the first trial)."""
        timeout = self.plan.get("timeout")
        if not timeout or self.started_at is None:
            return None
        return self.started_at + float(timeout)


def _record(row: Any) -> StudyRecord:
    m = row._mapping
    return StudyRecord(
        name=m["name"], status=Status(m["status"]), priority=int(m["priority"]), spec=json.loads(m["spec"]),
        plan=json.loads(m["plan"]), tracking_uri=m["tracking_uri"], heartbeat_interval=int(m["heartbeat_interval"]),
        grace_period=int(m["grace_period"]), error=m["error"], submitted_at=m["submitted_at"],
        started_at=m["started_at"], updated_at=m["updated_at"], finished_at=m["finished_at"],
    )


class ControlStore:
    """Read and change the control table of one study storage (tables created on first use)."""

    def __init__(self, storage_url: str | Url) -> None:
        self.storage_url = parse_storage(storage_url)
        self.engine = sql_engine(control_url(self.storage_url))
        try:
            ensure_schema(self.engine)
        except sa.exc.SQLAlchemyError as exc:
            raise cannot_open(self.storage_url, exc) from None

    # --- reading -----------------------------------------------------------------------
    def get(self, name: str) -> StudyRecord | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(studies).where(studies.c.name == name)).first()
        return _record(row) if row is not None else None

    def require(self, name: str) -> StudyRecord:
        """The study's record, or a clear error naming the storage."""
        record = self.get(name)
        if record is None:
            known = ", ".join(r.name for r in self.list()) or "none"
            raise ControlError(f"no submitted study named '{name}' in {self.storage_url} (submitted: {known})",
                               hint="submit it first: tuneforge submit STUDY.yaml --storage URL")
        return record

    def list(self, statuses: Iterable[Status] | None = None) -> list[StudyRecord]:
        """Every submitted study (optionally only those in ``statuses``), oldest first."""
        query = sa.select(studies).order_by(studies.c.submitted_at, studies.c.name)
        if statuses is not None:
            query = query.where(studies.c.status.in_([s.value for s in statuses]))
        with self.engine.connect() as conn:
            return [_record(row) for row in conn.execute(query)]

    # --- writing -----------------------------------------------------------------------
    def submit(self, name: str, *, spec: dict[str, Any], plan: dict[str, Any], tracking_uri: str | Url, priority: int,
               heartbeat_interval: int, grace_period: int) -> StudyRecord:
        """Register a study, or update a resubmitted one (a done or cancelled study is queued again)."""
        now = time.time()
        tracking = tracking_uri.secret() if isinstance(tracking_uri, Url) else tracking_uri  # workers log there
        values = {"spec": json.dumps(spec, default=str), "plan": json.dumps(plan), "tracking_uri": tracking,
                  "priority": priority, "heartbeat_interval": heartbeat_interval, "grace_period": grace_period,
                  "updated_at": now}
        with self.engine.begin() as conn:
            row = conn.execute(sa.select(studies.c.status).where(studies.c.name == name)).first()
            if row is None:
                conn.execute(studies.insert().values(name=name, status=Status.QUEUED.value, submitted_at=now,
                                                     **values))
            else:
                if Status(row[0]) in (Status.DONE, Status.CANCELLED, Status.FAILED):
                    values.update(status=Status.QUEUED.value, finished_at=None, error=None)
                conn.execute(studies.update().where(studies.c.name == name).values(**values))
        return self.require(name)

    def set_status(self, name: str, status: Status, *, only_from: Iterable[Status] | None = None,
                   error: str | None = None) -> bool:
        """Change a study's status (only if it is in ``only_from``); True if this call changed it."""
        now = time.time()
        values: dict[str, Any] = {"status": status.value, "updated_at": now}
        if status in (Status.DONE, Status.CANCELLED, Status.FAILED):
            values["finished_at"] = now
        if status is Status.RUNNING:
            values["started_at"] = sa.func.coalesce(studies.c.started_at, now)
        if error is not None:
            values["error"] = error[:5000]
        query = studies.update().where(studies.c.name == name).values(**values)
        if only_from is not None:
            query = query.where(studies.c.status.in_([s.value for s in only_from]))
        with self.engine.begin() as conn:
            return conn.execute(query).rowcount > 0

    def start(self, name: str) -> bool:
        """A worker takes the study's first trial: queued -> running (the timeout starts now)."""
        return self.set_status(name, Status.RUNNING, only_from=(Status.QUEUED,))

    def dispose(self) -> None:
        self.engine.dispose()
