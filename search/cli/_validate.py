"""``tuneforge validate``: check study files and show their search space."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from search.cli._app import app
from search.cli._data_check import check_data
from search.spec import Study, load_study
from spaces import Param, SearchSpace, TuneforgeError, grid_size
from spaces._params import Float, Int


def _domain(param: Param) -> str:
    if isinstance(param, (Int, Float)):
        text = f"[{param.low:g}, {param.high:g}]"
        if param.step:
            text += f" step {param.step:g}"
        if param.grid:
            text += f" grid {list(param.grid)}"
        return text
    values = param.domain_values() or ()
    return ", ".join(str(v) for v in values)


def _condition(param: Param) -> str:
    parts = [f"{k} in {list(v)}" if len(v) > 1 else f"{k} = {v[0]}" for k, v in param.when]
    if param.per_layer:
        parts.append(f"per layer of {param.per_layer}")
    return "; ".join(parts)


def space_table(space: SearchSpace, title: str = "") -> Table:
    """The space as a table: name, kind, range or choices, scale, condition."""
    table = Table(title=title or None, title_justify="left")
    for column in ("name", "kind", "range / choices", "scale", "condition"):
        table.add_column(column)
    for p in space:
        scale = "log" if getattr(p, "log", False) else ("linear" if isinstance(p, (Int, Float)) else "")
        table.add_row(p.name, p.kind, _domain(p), scale, _condition(p))
    return table


def _summary(study: Study) -> str:
    s = study.spec
    data = s.data.dataset if isinstance(s.data.dataset, str) else s.data.dataset.model_dump(exclude_none=True)
    return (
        f"data {data} ({study.task or 'task from data'}), model {s.model if isinstance(s.model, str) else s.model.builder}"
        f"; objective {study.direction} {study.metric}; {s.search.engine}/{s.search.algorithm}, "
        f"pruner {s.search.pruner}, first trial {s.search.first_trial}, {s.search.trials} trials, "
        f"{s.search.workers} worker(s); "
        f"grid {grid_size(study.space, s.grid.points)} configs at {s.grid.points} points per range"
    )


@app.command()
def validate(
    studies: Annotated[list[Path], typer.Argument(metavar="STUDY...", help="Study files (YAML, JSON or TOML).", show_default=False)],
) -> None:
    """Check study files and print each search space; exit 2 if any is invalid."""
    console = Console()
    failed: list[TuneforgeError] = []
    for path in studies:
        try:
            study = load_study(path)
        except TuneforgeError as exc:
            failed.append(exc)
            continue
        if study.aliases:
            console.print("course names normalised: " + ", ".join(
                f"{old} -> {new}" + (" (one width shared by every layer)" if new == "units" else "")
                for old, new in study.aliases), highlight=False)
        console.print(space_table(study.space, title=f"{path}: study '{study.name}'"))
        console.print(_summary(study), highlight=False)
        try:
            for warning in check_data(study):
                console.print(f"[yellow]warning:[/] {warning}", highlight=False)
        except TuneforgeError as exc:
            failed.append(exc.located(source=str(path)))
        console.print()
    if len(failed) == 1 and len(studies) == 1:
        raise failed[0]
    for exc in failed:
        for error in getattr(exc, "errors", [exc]):
            typer.echo(f"error: {error}", err=True)
    if failed:
        raise typer.Exit(2)
