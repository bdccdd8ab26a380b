"""Tables and progress shown by the CLI."""

from __future__ import annotations

from collections import Counter
from typing import Any

from rich.table import Table

from search.engines import TrialRecord
from spaces.core import TrialState


def short_config(config: dict[str, Any], limit: int = 70) -> str:
    """``n_layers=2 units_0=128 ...`` cut to ``limit`` characters."""
    parts = []
    for k, v in config.items():
        if k in ("epochs", "patience"):
            continue
        parts.append(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}")
    text = " ".join(parts)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def top_trials_table(trials: list[TrialRecord], direction: str, metric: str, n: int = 5) -> Table:
    """The best ``n`` complete trials."""
    complete = [t for t in trials if t.state is TrialState.COMPLETE and t.value is not None]
    sign = -1.0 if direction == "maximize" else 1.0
    complete.sort(key=lambda t: (sign * t.value, t.number))  # type: ignore[operator]
    table = Table(title=f"top {min(n, len(complete))} trials by {metric} ({direction})", title_justify="left")
    for col in ("trial", metric, "epochs", "params", "config"):
        table.add_column(col)
    for t in complete[:n]:
        table.add_row(str(t.number), f"{t.value:.4f}", str(t.attrs.get("epochs", "")),
                      str(t.attrs.get("n_params", "")), short_config(t.config))
    return table


def state_counts(trials: list[TrialRecord]) -> str:
    """``12 complete, 3 pruned, 1 failed, 2 running``."""
    counts = Counter(t.state for t in trials)
    names = [(TrialState.COMPLETE, "complete"), (TrialState.PRUNED, "pruned"), (TrialState.FAIL, "failed"),
             (TrialState.RUNNING, "running/waiting")]
    return ", ".join(f"{counts[s]} {label}" for s, label in names if counts[s]) or "no trials yet"

