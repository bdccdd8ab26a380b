"""``tuneforge status`` without a study: every study in a storage with its status and progress."""

from __future__ import annotations

import time
from typing import Any

from rich.table import Table


def _ago(seconds: float | None) -> str:
    if seconds is None:
        return ""
    delta = max(0, time.time() - seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if delta >= size:
            return f"{delta / size:.0f}{unit} ago"
    return f"{delta:.0f}s ago"


def study_rows(storage_url: str) -> list[dict[str, Any]]:
    """One dict per study in the storage: name, status, priority, finished, budget, running, best."""
    import optuna
    from optuna.trial import TrialState

    from search.control import ControlStore
    from search.storage import LOST, get_storage

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = get_storage(storage_url)
    control = {r.name: r for r in ControlStore(storage_url).list()}
    rows = []
    for frozen in sorted(storage.get_all_studies(), key=lambda s: s.study_name):
        trials = storage.get_all_trials(frozen._study_id, deepcopy=False)
        finished = [t for t in trials if t.state.is_finished() and LOST not in t.user_attrs]
        complete = [t.value for t in trials if t.state == TrialState.COMPLETE and t.value is not None]
        maximize = frozen.direction == optuna.study.StudyDirection.MAXIMIZE
        record = control.get(frozen.study_name)
        rows.append({
            "name": frozen.study_name,
            "status": record.status.value if record else "not submitted",
            "priority": record.priority if record else None,
            "finished": len(finished),
            "budget": record.plan.get("budget") if record else None,
            "running": sum(t.state == TrialState.RUNNING for t in trials),
            "waiting": sum(t.state == TrialState.WAITING for t in trials),
            "best": (max(complete) if maximize else min(complete)) if complete else None,
            "submitted_at": record.submitted_at if record else None,
            "error": record.error if record else None,
        })
    return rows


def studies_table(storage_url: str) -> Table:
    """The studies of a storage as a table (``tuneforge status --storage URL``)."""
    rows = study_rows(storage_url)
    table = Table(title=f"{len(rows)} stud{'y' if len(rows) == 1 else 'ies'} in {storage_url}", title_justify="left")
    for col in ("study", "status", "priority", "progress", "running", "best", "submitted"):
        table.add_column(col)
    for r in rows:
        progress = f"{r['finished']}/{r['budget']}" if r["budget"] else f"{r['finished']} finished"
        status = r["status"] + (f" ({r['error'][:40]}…)" if r["error"] else "")
        table.add_row(r["name"], status, "" if r["priority"] is None else str(r["priority"]), progress,
                      str(r["running"]) + (f" (+{r['waiting']} queued)" if r["waiting"] else ""),
                      "" if r["best"] is None else f"{r['best']:.4f}", _ago(r["submitted_at"]))
    return table
