"""The study leaderboard: every trial as one row, best complete trials first.

Complete trials are ranked by the objective in the study's direction (earliest
first on ties, like ``search.driver.best_of``), then come pruned trials (by the value
they were pruned at, in the same direction), failed trials, and finally trials
still running or waiting. Only complete trials get a rank.

Columns: ``rank, trial, state, objective, epochs, n_params, seconds, worker``, then
the config's parameters in the order the space declares them (``units_0, units_1``
stay together even when the first trial had one layer). A config key that collides
with a fixed column (the fixed value ``epochs`` of the config against the epochs a
trial actually trained) becomes ``config.<name>``.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FIXED_COLUMNS = ("rank", "trial", "state", "objective", "epochs", "n_params", "seconds", "worker")
LEADERBOARD_CSV = "leaderboard.csv"
LEADERBOARD_MD = "leaderboard.md"

_STATE_GROUP = {"COMPLETE": 0, "PRUNED": 1, "FAIL": 2, "RUNNING": 3, "WAITING": 4}


@dataclass(frozen=True)
class Leaderboard:
    """The rows (dicts keyed by ``columns``) in leaderboard order."""

    columns: list[str]
    config_columns: dict[str, str]  # config key -> column name
    rows: list[dict[str, Any]]


def trial_config(trial: Any) -> dict[str, Any]:
    """The trial's full config: the ``config`` user attr (JSON), else its Optuna params."""
    raw = trial.user_attrs.get("config")
    if isinstance(raw, str):
        try:
            value = json.loads(raw)
        except ValueError:
            value = None
        if isinstance(value, dict):
            return value
    elif isinstance(raw, Mapping):
        return dict(raw)
    return dict(trial.params)


def _merge_orders(orders: Iterable[Sequence[str]]) -> list[str]:
    """All keys, each new one placed right after the key that precedes it where first seen."""
    merged: list[str] = []
    for keys in orders:
        previous: str | None = None
        for key in keys:
            if key not in merged:
                merged.insert(merged.index(previous) + 1 if previous is not None else 0, key)
            previous = key
    return merged


def _finite(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


def _value(trial: Any) -> float | None:
    """The (first) objective value; ``trial.value`` raises on a multi-objective trial."""
    values = trial.values
    return _finite(values[0]) if values else None


def build_leaderboard(trials: Sequence[Any], direction: str) -> Leaderboard:
    """Rows for ``trials`` (Optuna ``FrozenTrial`` objects) ordered as the module describes."""
    sign = -1.0 if direction == "maximize" else 1.0
    configs = {t.number: trial_config(t) for t in trials}

    def key(trial: Any) -> tuple[int, int, float, int]:
        group = _STATE_GROUP.get(trial.state.name, 5)
        value = _value(trial) if group in (0, 1) else None
        return group, value is None, sign * value if value is not None else 0.0, trial.number

    ordered = sorted(trials, key=key)
    config_keys = _merge_orders(configs[t.number].keys() for t in sorted(trials, key=lambda t: t.number))
    config_columns = {k: (f"config.{k}" if k in FIXED_COLUMNS else k) for k in config_keys}
    rows: list[dict[str, Any]] = []
    rank = 0
    for trial in ordered:
        attrs = trial.user_attrs
        state = trial.state.name
        if state == "COMPLETE":
            rank += 1
        row: dict[str, Any] = {
            "rank": rank if state == "COMPLETE" else None,
            "trial": trial.number,
            "state": state,
            "objective": _value(trial) if state in ("COMPLETE", "PRUNED") else None,
            "epochs": attrs.get("epochs"),
            "n_params": attrs.get("n_params"),
            "seconds": attrs.get("seconds"),
            "worker": attrs.get("worker"),
        }
        config = configs[trial.number]
        for name, column in config_columns.items():
            row[column] = config.get(name)
        rows.append(row)
    return Leaderboard([*FIXED_COLUMNS, *config_columns.values()], config_columns, rows)


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, str)):
        return str(value)
    return json.dumps(value, default=str)


def _md_cell(column: str, value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, float):
        if column == "seconds":
            text = f"{value:.1f}"
        elif column == "objective":
            text = f"{value:.6g}"
        else:
            text = f"{value:.4g}"
    elif isinstance(value, (int, str)):
        text = str(value)
    else:
        text = json.dumps(value, default=str)
    return text.replace("|", "\\|").replace("\n", " ")


def write_csv(board: Leaderboard, path: Path) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(board.columns)
        for row in board.rows:
            writer.writerow([_csv_cell(row[c]) for c in board.columns])
    return path


def markdown_table(board: Leaderboard) -> str:
    lines = ["| " + " | ".join(board.columns) + " |", "|" + "|".join("---" for _ in board.columns) + "|"]
    for row in board.rows:
        lines.append("| " + " | ".join(_md_cell(c, row[c]) for c in board.columns) + " |")
    return "\n".join(lines) + "\n"


def write_markdown(board: Leaderboard, path: Path, *, title: str, metric: str, direction: str) -> Path:
    counts: dict[str, int] = {}
    for row in board.rows:
        counts[row["state"]] = counts.get(row["state"], 0) + 1
    summary = ", ".join(f"{n} {state.lower()}" for state, n in counts.items()) or "no trials"
    text = (f"# {title}\n\nObjective: `{metric}` ({direction}). Trials: {summary}.\n"
            "Complete trials are ranked; pruned ones show the value they were pruned at.\n\n")
    path.write_text(text + markdown_table(board), encoding="utf-8")
    return path
