"""``tuneforge status`` and ``tuneforge export``: look at a stored study, export its best model again."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from search.cli._app import app
from search.cli._render import state_counts, top_trials_table
from spaces import TuneforgeError


def _open(study: str, storage: str | None):
    import optuna

    from search.storage import get_storage, resolve_storage_url
    from search.driver import stored_study
    from search.spec import load_study

    name = load_study(study).name if Path(study).suffix in (".yaml", ".yml", ".json", ".toml") else study
    url = resolve_storage_url(storage)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        optuna_study = optuna.load_study(study_name=name, storage=get_storage(url))
    except KeyError:
        raise TuneforgeError(f"no study named '{name}' in {url}", hint="run it first: tuneforge run STUDY") from None
    return stored_study(optuna_study), url


@app.command()
def status(
    study: Annotated[Optional[str], typer.Argument(metavar="[STUDY]", help="A study file or a study name "
                                                   "(none: list every study in the storage).")] = None,
    storage: Annotated[Optional[str], typer.Option(help="Study storage URL.", envvar="TUNEFORGE_STORAGE")] = None,
) -> None:
    """Show a study's trials by state and its best trials, or list every study in a storage."""
    from search.driver import load_records

    if study is None:
        from search.cli._studies import studies_table
        from spaces.core import resolve_storage_url

        Console().print(studies_table(resolve_storage_url(storage)))
        return
    spec, url = _open(study, storage)
    trials = load_records(url, spec.name)()
    console = Console()
    console.print(f"study '{spec.name}' in {url}: {state_counts(trials)}")
    console.print(top_trials_table(trials, spec.direction, spec.metric, n=10))


@app.command("export")
def export_command(
    study: Annotated[str, typer.Argument(metavar="STUDY", help="A study file or a study name.")],
    storage: Annotated[Optional[str], typer.Option(help="Study storage URL.", envvar="TUNEFORGE_STORAGE")] = None,
    export_dir: Annotated[Optional[str], typer.Option(help="Where the model goes.")] = None,
    seed: Annotated[Optional[int], typer.Option(help="Training seed (default: the study's).")] = None,
) -> None:
    """Export the best model of a study again (retrained with the study's seed)."""
    from search.driver import best_of, dataset_for, export_best, export_dir_for, load_records

    spec, url = _open(study, storage)
    best = best_of(load_records(url, spec.name)(), spec.direction)
    if best is None:
        raise TuneforgeError(f"study '{spec.name}' has no complete trial to export")
    train_seed = seed if seed is not None else (spec.spec.search.seed if spec.spec.search.seed is not None
                                                else spec.spec.data.seed)
    result = export_best(spec, best, dataset_for(spec), train_seed=train_seed,
                         directory=export_dir_for(spec, export_dir))
    Console().print(f"exported trial #{best.number} to {result.directory}; test: {result.test}")
