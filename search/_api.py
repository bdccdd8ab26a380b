"""The Python API a notebook calls: ``search.run(study, **overrides)`` and ``search.compare(...)``.

A thin layer over what ``tuneforge run`` and ``tuneforge compare`` do: the study is a
file path or a dict with the study file's keys; the overrides are the CLI's options by
name (``trials``, ``workers``, ``timeout``, ``storage``, ``tracking_uri``, ``export_dir``,
...). Progress is drawn with rich, which renders in Jupyter as well as in a terminal.
An interrupt (a notebook's "stop" button raises KeyboardInterrupt) stops the workers the
same way Ctrl-C does in ``tuneforge run``: no process is left behind.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from search.spec import Study, load_study, parse_duration, study_from_dict
from spaces import SpecError


@dataclass(frozen=True)
class BestTrial:
    """The best trial of a study: its number, objective value and full config."""

    number: int
    value: float
    config: dict[str, Any]


@dataclass
class RunResult:
    """What ``search.run`` returns.

    ``trials`` is a pandas DataFrame with one row per trial (``number``, ``state``,
    ``value``, ``params``, ``epochs``); ``test`` the exported model's test metrics;
    ``export_dir`` where the SavedModel went (``None`` when nothing was exported).
    """

    study: Study
    best: BestTrial | None
    trials: Any
    validation: dict[str, float] = field(default_factory=dict)
    test: dict[str, float] = field(default_factory=dict)
    export_dir: Path | None = None
    seconds: float = 0.0

    def __repr__(self) -> str:
        best = f"#{self.best.number} {self.study.metric}={self.best.value:.4f}" if self.best else "none"
        return (f"RunResult(study={self.study.name!r}, trials={len(self.trials)}, best={best}, "
                f"test={self.test}, export_dir={str(self.export_dir) if self.export_dir else None!r})")


def as_study(study: str | Path | Mapping[str, Any] | Study) -> Study:
    """A checked :class:`Study` from a path, a dict with the study file's keys, or a Study."""
    if isinstance(study, Study):
        return study
    if isinstance(study, Mapping):
        return study_from_dict(study, source=None)
    if isinstance(study, (str, Path)):
        return load_study(study)
    raise SpecError(f"must be a study file path or a dict, but got {type(study).__name__}", path=("study",))


def _options(overrides: Mapping[str, Any]) -> Any:
    from search.driver import RunOptions

    known = {f.name for f in fields(RunOptions)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        from spaces import did_you_mean

        raise SpecError(f"unknown option {unknown[0]!r}", path=(unknown[0],),
                        hint=did_you_mean(unknown[0], known) or f"options: {', '.join(sorted(known))}")
    values = dict(overrides)
    if isinstance(values.get("timeout"), str):
        try:
            values["timeout"] = parse_duration(values["timeout"])
        except ValueError as exc:
            raise SpecError(str(exc), path=("timeout",)) from None
    if isinstance(values.get("gpus"), str):
        from search.workers import parse_gpu_select

        values["gpus"] = parse_gpu_select(values["gpus"])
    return RunOptions(**values)


def trials_frame(records: list[Any]) -> Any:
    """One row per trial: number, state, value, params, epochs (pandas)."""
    import pandas as pd

    rows = [{"number": t.number, "state": t.state.value, "value": t.value, "params": dict(t.config),
             "epochs": t.attrs.get("epochs")} for t in sorted(records, key=lambda t: t.number)]
    return pd.DataFrame(rows, columns=["number", "state", "value", "params", "epochs"])


def run(study: str | Path | Mapping[str, Any] | Study, *, progress: bool = True, **overrides: Any) -> RunResult:
    """Run (or resume) a study as ``tuneforge run`` does and return its result.

    >>> result = search.run({"name": "wine", "data": {"dataset": "wine"},
    ...                      "space": {"units": {"type": "int", "low": 8, "high": 64}}}, trials=8)
    >>> result.best.config, result.test, result.trials.head()
    """
    from search.driver import run_study

    checked = as_study(study)
    options = _options(overrides)
    with _Bar(checked, enabled=progress) as bar:
        outcome = run_study(checked, options, progress=bar.update)
    best = None
    if outcome.trials:
        from search.engines import best_of

        record = best_of(outcome.trials, checked.direction)
        if record is not None:
            best = BestTrial(record.number, float(record.value), dict(record.config))  # type: ignore[arg-type]
    exported = outcome.best
    return RunResult(checked, best, trials_frame(outcome.trials),
                     validation=dict(exported.validation) if exported else {},
                     test=dict(exported.test) if exported else {},
                     export_dir=exported.directory if exported else None, seconds=outcome.seconds)


class _Bar:
    """A rich progress bar (trials done / budget, best so far); renders in Jupyter and terminals."""

    def __init__(self, study: Study, *, enabled: bool) -> None:
        self.study, self.enabled = study, enabled
        self._progress: Any = None
        self._task: Any = None

    def __enter__(self) -> _Bar:
        if self.enabled:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self._progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                                      TextColumn("{task.fields[best]}"), TimeElapsedColumn())
            self._progress.start()
            self._task = self._progress.add_task(self.study.name, total=None, best="")
        return self

    def update(self, plan: Any, records: list[Any]) -> None:
        if self._progress is None:
            return
        from search.engines import best_of
        from search.states import TrialState

        done = sum(1 for t in records if t.state is not TrialState.RUNNING and not t.attrs.get("lost"))
        best = best_of(records, self.study.direction)
        text = f"best {self.study.metric}={best.value:.4f} (#{best.number})" if best else ""
        self._progress.update(self._task, total=plan.budget, completed=min(done, plan.budget), best=text)

    def __exit__(self, *exc: Any) -> None:
        if self._progress is not None:
            self._progress.stop()


def compare(study: str | Path | Mapping[str, Any] | Study, **overrides: Any) -> Any:
    """Run ``tuneforge compare`` on a study; overrides are its options by name (``strategies``,
    ``repeats``, ``budget``, ``workers``, ``report_dir``, ``tracking_uri``, ``seed``).

    Returns the :class:`search.comparison.Comparison`: ``.summary`` (one dict per strategy),
    ``.runs``, ``.files`` (the report: PNG, HTML, CSV, Markdown) and ``.parent_run_id``.
    """
    from search.comparison._run import CompareOptions, run_comparison

    known = {f.name for f in fields(CompareOptions)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise SpecError(f"unknown option {unknown[0]!r}", path=(unknown[0],),
                        hint=f"options: {', '.join(sorted(known))}")
    if isinstance(overrides.get("strategies"), (list, tuple)):
        overrides = {**overrides, "strategies": ",".join(overrides["strategies"])}
    return run_comparison(as_study(study), CompareOptions(**overrides), progress=_line_progress())


def _line_progress() -> Any:
    """Compare's progress as one line every few seconds (fits done / planned), for any output."""
    import sys
    import time

    last: dict[str, float] = {"at": 0.0}

    def show(label: str, repeat: int, done: int, planned: int, best: float | None) -> None:
        now = time.monotonic()
        if now - last["at"] >= 5.0:
            last["at"] = now
            total = f"/{planned}" if planned else ""
            shown = f", best so far {best:.6g}" if best is not None else ""
            print(f"{label} (repeat {repeat + 1}): {done}{total} fits{shown}", file=sys.stderr, flush=True)

    return show
