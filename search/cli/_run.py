"""``tuneforge run``: run a study with parallel workers and export its best model."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from search.cli._app import app
from search.cli._render import state_counts, top_trials_table
from search.spec import load_study, parse_duration
from spaces import SpecError


def _timeout(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return parse_duration(int(value) if value.isdigit() else value)
    except ValueError as exc:
        raise SpecError(str(exc), path=("--timeout",)) from None


@app.command()
def run(
    ctx: typer.Context,
    study_file: Annotated[Path, typer.Argument(metavar="STUDY", help="The study file.", show_default=False)],
    trials: Annotated[Optional[int], typer.Option(min=1, help="Trial budget (total, resumed trials count).")] = None,
    timeout: Annotated[Optional[str], typer.Option(help="Wall-clock budget: 90, 90s, 20m, 1h30m.")] = None,
    workers: Annotated[Optional[int], typer.Option(min=1, help="Worker processes on this machine.")] = None,
    storage: Annotated[Optional[str], typer.Option(help="Study storage URL (default: a journal file "
                                                      "under .tuneforge/).", envvar="TUNEFORGE_STORAGE")] = None,
    tracking_uri: Annotated[Optional[str], typer.Option(help="MLflow tracking URI (default: "
                                                           "$MLFLOW_TRACKING_URI or .tuneforge/mlflow.db).")] = None,
    seed: Annotated[Optional[int], typer.Option(help="Sampler and training seed.")] = None,
    export_dir: Annotated[Optional[str], typer.Option(help="Where the best model goes.")] = None,
    export: Annotated[bool, typer.Option(help="Export the best model at the end.")] = True,
    gpus: Annotated[Optional[str], typer.Option(help="GPUs to use: auto, none or indices like 0,2 "
                                                "(default: the study's resources.gpus).")] = None,
    trials_per_gpu: Annotated[Optional[int], typer.Option(min=1, help="Trials sharing one GPU, each with "
                                                          "about 1/K of its memory.")] = None,
    ray: Annotated[Optional[str], typer.Option("--ray", metavar="ADDRESS",
                                               help="Run the workers as actors on a Ray cluster: auto, HOST:PORT, "
                                                    "ray://HOST:10001, or local (default: the study's "
                                                    "resources.ray).")] = None,
) -> None:
    """Run (or resume) a study: parallel workers, every trial in MLflow, the best model exported."""
    from search._lifetime import stop_on_sigterm
    from search.workers import parse_gpu_select

    stop_on_sigterm()  # `timeout`, a scheduler, `docker stop`: trials failed and retried, parent run KILLED
    study = load_study(study_file)
    gpu_select = None if gpus is None else parse_gpu_select(gpus)
    from search.driver import RunOptions, run_study  # no TensorFlow here: the workers import it

    options = RunOptions(trials=trials, timeout=_timeout(timeout), workers=workers, storage=storage,
                         tracking_uri=tracking_uri, seed=seed, export_dir=export_dir, export=export,
                         gpus=gpu_select, trials_per_gpu=trials_per_gpu, ray=ray)
    if export:  # before anything is printed or written: an unusable export folder would fail only at the end
        from search.driver import export_dir_for
        from tracking._target import check_export_target

        check_export_target(export_dir_for(study, export_dir))
    from spaces.core import resolve_tracking_uri
    from tracking.mlflow_log import check_server

    check_server(resolve_tracking_uri(tracking_uri or study.spec.tracking.uri))  # a typo'd or dead tracking URI
    console = Console(stderr=True)
    columns = [TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[best]}"), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn()]
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task(study.name, total=None, best="")

        def progress(plan, records) -> None:
            from search.driver import best_of
            from spaces.core import TrialState

            done = sum(1 for t in records if t.state is not TrialState.RUNNING and not t.attrs.get("lost"))
            best = best_of(records, study.direction)
            text = f"best {study.metric}={best.value:.4f} (#{best.number})" if best else "no result yet"
            bar.update(task, total=plan.budget, completed=min(done, plan.budget), best=text)

        console.print(f"study '{study.name}': {study.spec.search.engine}/{study.spec.search.algorithm}, "
                      f"objective {study.direction} {study.metric}; loading the data once to check it…")
        outcome = run_study(study, options, progress=progress)
    out = Console()
    out.print(f"{state_counts(outcome.trials)} in {outcome.seconds:.0f}s")
    for death in outcome.deaths:
        out.print(f"[yellow]recovered: {death} (its trial was retried)[/]")
    out.print(top_trials_table(outcome.trials, study.direction, study.metric))
    if outcome.best is not None:
        b = outcome.best
        test = ", ".join(f"{k}={v:.4f}" for k, v in b.test.items()) or "no test split"
        out.print(f"best trial #{b.trial.number}: {study.metric}={b.trial.value:.4f}; test: {test}")
        out.print(f"exported to {b.directory}", soft_wrap=True, highlight=False)  # a path to copy: never wrapped
        if b.registered_version:
            out.print(f"registered in MLflow as models:/{study.name}/{b.registered_version}")
    elif export:
        out.print("[yellow]no trial completed, nothing exported[/]")
    source = ctx.get_parameter_source("storage")
    from_env = source is not None and source.name == "ENVIRONMENT"  # `ui` reads $TUNEFORGE_STORAGE too
    out.print(f"browse the runs: {ui_hint(study_file, storage=None if from_env else storage, tracking_uri=tracking_uri)}",
              highlight=False, soft_wrap=True)
    if outcome.dashboard:
        out.print(f"Ray dashboard: {outcome.dashboard}")


def ui_hint(study_file: Path, *, storage: str | None, tracking_uri: str | None) -> str:
    """``tuneforge ui`` with the run's storage and tracking options, quoted; a password is never printed."""
    import shlex

    from spaces.core import Url

    words, secret = ["tuneforge", "ui", shlex.quote(str(study_file))], False
    for option, value in (("--storage", storage), ("--tracking-uri", tracking_uri)):
        if value:
            url = Url.parse(value)
            secret = secret or str(url) != url.secret()
            words += [option, shlex.quote(str(url))]
    hint = " ".join(words)
    return hint + ("  (replace *** with the password: it is not printed)" if secret else "")
