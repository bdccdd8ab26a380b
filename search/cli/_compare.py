"""``tuneforge compare``: GridSearchCV against Bayesian search on the same folds, budget-matched."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich import box
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from search.cli._app import app
from search.spec import load_study

_DEFAULT_STRATEGIES = "grid,random,tpe"


def _short(value: Any, digits: int) -> str:
    return f"{value:.{digits}g}" if isinstance(value, float) and not math.isnan(value) else ""


def _seconds(value: Any) -> str:
    return f"{value:.0f}" if isinstance(value, (int, float)) and not math.isnan(value) else str(value)


def _pm(row: dict[str, Any], column: str) -> str:
    """``mean±sd`` in 4 and 2 significant digits, or the mean alone when there is no spread (one repeat)."""
    mean, sd = _short(row[column], 4), _short(row[f"{column}_sd"], 2)
    return f"{mean}±{sd}" if mean and sd else mean


def summary_table(rows: list[dict[str, Any]], metric: str, label: str) -> Table:
    """The summary, made to fit an 80-column log (the full table is in the report)."""
    from search.comparison._report import cell

    repeats = max((int(r["repeats"]) for r in rows), default=1)
    how = "mean ± sd over repeats" if repeats > 1 else "one repeat"
    table = Table(title=f"{metric} ({label}), {how}", title_justify="left", box=box.SIMPLE_HEAD,
                  pad_edge=False, padding=(0, 1))
    for column in ("strategy", "best val", "test", "hit", "fits to", "s to", "fits", "total s"):
        table.add_column(column, justify="left" if column == "strategy" else "right", no_wrap=True)
    for r in rows:
        table.add_row(r["strategy"], _pm(r, "best_validation"), _pm(r, "test_score"), str(r["reached_grid_best"]),
                      cell(r["fits_to_grid_best"]), _seconds(r["seconds_to_grid_best"]), cell(r["fits"]),
                      _seconds(r["total_seconds"]))
    table.caption = "hit: repeats reaching the grid's best; fits to, s to: what it took"
    table.caption_justify = "left"
    return table


class _Lines:
    """Progress for a log (not a terminal): one line per strategy run every ``every`` seconds and at its end."""

    def __init__(self, console: Console, repeats: int, every: float = 5.0) -> None:
        self.console, self.repeats, self.every = console, repeats, every
        self.last: dict[tuple[str, int], float] = {}

    def __call__(self, label: str, repeat: int, done: int, planned: int, best: float | None) -> None:
        import time

        key, now = (label, repeat), time.monotonic()
        if now - self.last.get(key, 0.0) < self.every and not (planned and done >= planned):
            return
        if planned and done >= planned and self.last.get(key) == -1.0:
            return  # its last line is printed
        self.last[key] = -1.0 if planned and done >= planned else now
        total = f"/{planned}" if planned else ""
        shown = f", best so far {best:.6g}" if best is not None else ""
        self.console.print(f"{label} (repeat {repeat + 1}/{self.repeats}): {done}{total} fits{shown}",
                           highlight=False)


@app.command()
def compare(
    study_file: Annotated[Path, typer.Argument(metavar="STUDY", help="The study file.", show_default=False)],
    strategies: Annotated[str, typer.Option(help="Comma-separated: grid, random, tpe, gp, kt-bayesian, "
                                                 "kt-hyperband.")] = _DEFAULT_STRATEGIES,
    repeats: Annotated[int, typer.Option(min=1, help="Runs of each strategy (seed, seed+1, ...).")] = 3,
    budget: Annotated[Optional[str], typer.Option(help="Per strategy: fits:N, epochs:N or time:T (90s, 20m); "
                                                       "default: the full grid's fits.")] = None,
    workers: Annotated[Optional[int], typer.Option(min=1, help="Parallel fits (GridSearchCV's n_jobs); "
                                                               "default: the study's workers.")] = None,
    report_dir: Annotated[Optional[str], typer.Option(help="Where the report goes (default: "
                                                           ".tuneforge/compare/<study>).")] = None,
    tracking_uri: Annotated[Optional[str], typer.Option(help="MLflow tracking URI (default: "
                                                           "$MLFLOW_TRACKING_URI or .tuneforge/mlflow.db).")] = None,
    seed: Annotated[Optional[int], typer.Option(help="Base seed (default: the study's).")] = None,
) -> None:
    """Compare GridSearchCV with Optuna / Keras Tuner search on the study's folds, budget-matched."""
    from search.comparison._budget import parse_budget
    from search.comparison._names import check_strategies
    from search.comparison._run import CompareOptions, _grid_configs, run_comparison

    from search._lifetime import stop_on_sigterm

    stop_on_sigterm()  # like Ctrl-C: the pool stops, the comparison's MLflow run is ended
    study = load_study(study_file)
    names = check_strategies(strategies)  # fail fast, before TensorFlow loads
    n = _grid_configs(study)
    folds = study.spec.data.validation.folds if hasattr(study.spec.data.validation, "folds") else 1
    chosen = parse_budget(budget, grid_fits=n * folds)
    options = CompareOptions(strategies=",".join(names), repeats=repeats, budget=budget, workers=workers,
                             report_dir=report_dir, tracking_uri=tracking_uri, seed=seed)
    console = Console(stderr=True)
    console.print(f"study '{study.name}': {', '.join(names)} x {repeats} repeat(s); grid {n} configs x {folds} "
                  f"split(s) = {n * folds} fits; budget {chosen} per strategy; objective {study.direction} "
                  f"{study.metric}")
    if not console.is_terminal:  # a log file or a pipe: plain lines every few seconds, not a live bar
        result = run_comparison(study, options, progress=_Lines(console, repeats))
    else:
        columns = [TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("fits"),
                   TextColumn("{task.fields[best]}"), TimeElapsedColumn()]
        with Progress(*columns, console=console, transient=False) as bar:
            tasks: dict[tuple[str, int], Any] = {}

            def progress(label: str, repeat: int, done: int, planned: int, best: float | None) -> None:
                key = (label, repeat)
                if key not in tasks:
                    tasks[key] = bar.add_task(f"{label} (repeat {repeat + 1}/{repeats})", total=planned or None,
                                              best="")
                total = planned if planned and done <= planned else None
                bar.update(tasks[key], completed=done, total=total,
                           best=f"best {best:.6g}" if best is not None else "")

            result = run_comparison(study, options, progress=progress)
    out = Console() if Console().is_terminal else Console(width=80)
    out.print(summary_table(result.summary, study.metric, result.label))
    for run in result.runs:
        if run.note:
            out.print(f"[yellow]{run.strategy} (repeat {run.repeat + 1}): {run.note}[/]")
    out.print(f"report: {result.report_dir}")
    out.print(f"MLflow: experiment '{result.experiment}', comparison run {result.parent_run_id} "
              f"({result.tracking_uri})")
