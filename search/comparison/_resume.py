"""Resume a comparison: every finished strategy run (one strategy, one repeat) is kept on disk.

After a strategy run ends, its scored configs, timeline, best config and test score go
to ``<report dir>/finished/<strategy>-r<repeat>.json`` with the fingerprint of what
defines its result (the study's spec, the data's digest, budget, seed, workers). A later
``compare`` with the same fingerprint reads it back instead of fitting again, and
keeps its fit log; a run with another fingerprint is fitted afresh. An interrupted
strategy run had not finished, so it starts over (its partial fits are not reused:
a sampler's later proposals depend on every earlier result, and the timeline on when
each fit ended).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from search.comparison._evaluate import Evaluation
from search.comparison._strategies import Point, StrategyRun

FOLDER = "finished"


def fingerprint(**parts: Any) -> str:
    """A short digest of what defines a strategy run's result."""
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _path(report_dir: Path, strategy: str, repeat: int) -> Path:
    return report_dir / FOLDER / f"{strategy}-r{repeat}.json"


def save_finished(report_dir: Path, run: StrategyRun, key: str) -> None:
    """Write a finished strategy run (atomically: a kill mid-write leaves the old file or none)."""
    path = _path(report_dir, run.strategy, run.repeat)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {"fingerprint": key, "run": asdict(run)}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, default=str, allow_nan=True), encoding="utf-8")
    tmp.replace(path)


def load_finished(report_dir: Path, strategy: str, repeat: int, key: str) -> StrategyRun | None:
    """The finished run saved with this fingerprint, or None."""
    path = _path(report_dir, strategy, repeat)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if data.get("fingerprint") != key:
        return None
    raw = data["run"]
    evaluations = [Evaluation(**e) for e in raw.pop("evaluations")]
    timeline = [Point(**p) for p in raw.pop("timeline")]
    best = Evaluation(**raw.pop("best")) if raw.get("best") else None
    raw.pop("best", None)
    return StrategyRun(**raw, evaluations=evaluations, timeline=timeline, best=best)


def forget(report_dir: Path) -> None:
    """Drop every saved run (a comparison with other settings starts clean)."""
    for path in (report_dir / FOLDER).glob("*.json"):
        path.unlink()
