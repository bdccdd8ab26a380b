"""``tuneforge compare``: GridSearchCV against Bayesian search on the same folds, budget-matched."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from search.cli._app import app
from search.spec import load_study

_DEFAULT_STRATEGIES = "grid,random,tpe"


def _summary_table(rows: list[dict[str, Any]], metric: str, label: str) -> Table:
    """The summary, compact enough for an 80-column terminal (the full table is in the report)."""
    from search.compare._report import cell

    table = Table(title=f"{metric} ({label}): mean ± sd over repeats", title_justify="left")
    for column in ("strategy", "best val", "test", "reached grid best", "fits to it", "s to it", "fits", "total s"):
        table.add_column(column, justify="left" if column == "strategy" else "right")
    for r in rows:
        table.add_row(
            r["strategy"],
            f"{cell(r['best_validation'], 'best_validation')}±{cell(r['best_validation_sd'], 'best_validation_sd')}",
            f"{cell(r['test_score'], 'test_score')}±{cell(r['test_score_sd'], 'test_score_sd')}",
            str(r["reached_grid_best"]), cell(r["fits_to_grid_best"]), cell(r["seconds_to_grid_best"]),
            cell(r["fits"]), cell(r["total_seconds"]),
        )
    return table


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
    from search.compare._budget import parse_budget
    from search.compare._names import check_strategies
    from search.compare._run import CompareOptions, _grid_configs, run_comparison

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
    columns = [TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("fits"),
               TimeElapsedColumn()]
    with Progress(*columns, console=console, transient=False) as bar:
        tasks: dict[tuple[str, int], Any] = {}

        def progress(label: str, repeat: int, done: int, planned: int) -> None:
            key = (label, repeat)
            if key not in tasks:
                tasks[key] = bar.add_task(f"{label} (repeat {repeat + 1}/{repeats})", total=planned or None)
            total = planned if planned and done <= planned else None
            bar.update(tasks[key], completed=done, total=total)

        result = run_comparison(study, options, progress=progress)
    out = Console()
    out.print(_summary_table(result.summary, study.metric, result.label))
    for run in result.runs:
        if run.note:
            out.print(f"[yellow]{run.strategy} (repeat {run.repeat + 1}): {run.note}[/]")
    out.print(f"report: {result.report_dir}")
    out.print(f"MLflow: experiment '{result.experiment}', comparison run {result.parent_run_id} "
              f"({result.tracking_uri})")
