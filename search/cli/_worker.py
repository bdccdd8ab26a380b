"""``tuneforge worker``: serve submitted studies from a shared storage until no work is left."""

from __future__ import annotations

import signal
from typing import Annotated, NoReturn, Optional

import typer

from search.cli._app import app
from spaces import TuneforgeError


def _interrupt(*_: object) -> NoReturn:
    raise KeyboardInterrupt


@app.command()
def worker(
    storage: Annotated[str, typer.Option(help="Study storage URL the studies were submitted to.",
                                         envvar="TUNEFORGE_STORAGE", show_default=False)],
    study: Annotated[Optional[str], typer.Option(help="Serve only this submitted study.")] = None,
    all_studies: Annotated[bool, typer.Option("--all", help="Serve every queued or running study, "
                                                            "higher priority first.")] = False,
    wait: Annotated[bool, typer.Option(help="Keep waiting for new or resumed studies when there is no "
                                            "work (default: exit).")] = False,
    gpus: Annotated[str, typer.Option(help="GPUs to use: auto, none or indices like 0,2.")] = "auto",
    trials_per_gpu: Annotated[int, typer.Option(min=1, help="Trials sharing one GPU, each with about 1/K "
                                                            "of its memory.")] = 1,
    workers: Annotated[Optional[int], typer.Option(min=1, help="Slot processes (default: GPUs x "
                                                               "trials-per-gpu, or 1 on CPU).")] = None,
    max_trials_per_process: Annotated[int, typer.Option(min=0, help="Start a fresh process after this many "
                                                                    "trials (0: never).")] = 25,
    process_per_trial: Annotated[bool, typer.Option(help="Train every trial in a fresh process "
                                                         "(= --max-trials-per-process 1).")] = False,
    tracking_uri: Annotated[Optional[str], typer.Option(help="MLflow tracking URI (default: the one each "
                                                           "study was submitted with).")] = None,
    poll: Annotated[float, typer.Option(min=0.1, help="Seconds between looks for work with --wait.")] = 5.0,
    create_tables: Annotated[bool, typer.Option(help="Create tuneforge's tables in a database that has none "
                                                     "(`tuneforge submit` creates them).")] = False,
    trust_builders: Annotated[bool, typer.Option(help="Run model builder code named by studies in the storage "
                                                      "(only if its source is what was submitted). Anyone who "
                                                      "can write to the storage can then run code here.")] = False,
) -> None:
    """Run trials of submitted studies (the spec is read from the storage); exits when no work is left."""
    from search.control import ControlStore
    from search.storage import get_storage, resolve_storage_url
    from search.workers import cpu_count, detect_gpus, parse_gpu_select, plan_slots

    if (study is None) == (not all_studies):
        raise TuneforgeError("tuneforge worker needs exactly one of --study NAME or --all",
                             hint="--study NAME serves one submitted study; --all serves every one by priority")
    url = resolve_storage_url(storage)
    select = parse_gpu_select(gpus)
    if not create_tables:  # another application's database must not get 15 tables by mistake
        from search.control._presence import require_tuneforge_tables

        require_tuneforge_tables(url)
    get_storage(url)  # create Optuna's tables (one process at a time) before anything else
    store = ControlStore(url)  # and tuneforge's
    if study is not None:
        store.require(study)
    slots = plan_slots(gpus=detect_gpus() if select != "none" else [], select=select,
                       trials_per_gpu=trials_per_gpu, cores=cpu_count(), workers=workers)
    from search.workers._daemon import Daemon, DaemonOptions

    options = DaemonOptions(storage_url=url, study=study, wait=wait, tracking_uri=tracking_uri, poll=poll,
                            max_trials_per_process=1 if process_per_trial else max_trials_per_process,
                            trust_builders=trust_builders)
    daemon = Daemon(options, slots)
    signal.signal(signal.SIGTERM, _interrupt)  # `docker stop`: stop like Ctrl-C (running trials are retried)
    devices = ", ".join(s.device for s in slots)
    daemon.log(f"worker on {url}: {len(slots)} slot(s) [{devices}], serving "
               f"{'study ' + repr(study) if study else 'every active study'}"
               f"{', waiting for work' if wait else ''}")
    report = daemon.run()
    daemon.log(f"worker done: {report.started} process(es) started, {report.recycled} recycled, "
               f"{len(report.deaths)} died, {len(report.lost_trials)} trial(s) retried")
