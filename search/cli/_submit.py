"""``tuneforge submit``: register a study in a shared storage for ``tuneforge worker`` to run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from search.cli._app import app
from search.spec import load_study


@app.command()
def submit(
    study_file: Annotated[Path, typer.Argument(metavar="STUDY", help="The study file.", show_default=False)],
    storage: Annotated[str, typer.Option(help="Study storage URL shared by the workers "
                                              "(postgresql://user@host/db).", envvar="TUNEFORGE_STORAGE",
                                              show_default=False)],
    tracking_uri: Annotated[Optional[str], typer.Option(help="MLflow tracking URI the workers log to "
                                                           "(default: the study's, $MLFLOW_TRACKING_URI or "
                                                           ".tuneforge/mlflow.db).")] = None,
    trials: Annotated[Optional[int], typer.Option(min=1, help="Trial budget (default: the study's).")] = None,
    timeout: Annotated[Optional[str], typer.Option(help="Wall-clock budget from the first trial: 90, 20m, "
                                                        "1h30m.")] = None,
    seed: Annotated[Optional[int], typer.Option(help="Sampler and training seed.")] = None,
    priority: Annotated[int, typer.Option(help="Workers in --all mode serve higher priorities first; equal "
                                               "priorities share the workers.")] = 0,
    heartbeat_interval: Annotated[int, typer.Option(min=1, help="Seconds between a running trial's "
                                                                "heartbeats.")] = 10,
    grace_period: Annotated[int, typer.Option(min=2, help="Seconds without a heartbeat before a trial is "
                                                          "failed and retried.")] = 60,
) -> None:
    """Register a study (its spec stored with it) without running it; `tuneforge worker` runs it."""
    from search.cli._run import _timeout
    from search.driver._submit import submit_study
    from spaces.core import resolve_storage_url
    from spaces.core import resolve_tracking_uri

    study = load_study(study_file)
    url = resolve_storage_url(storage)
    uri = resolve_tracking_uri(tracking_uri or study.spec.tracking.uri)
    record = submit_study(study, storage_url=url, tracking_uri=uri, trials=trials, timeout=_timeout(timeout),
                          seed=seed, priority=priority, heartbeat_interval=heartbeat_interval,
                          grace_period=grace_period)
    Console().print(f"submitted study '{record.name}' ({record.status.value}, priority {record.priority}, "
                    f"{record.plan['budget']} trials) to {url}; MLflow: {uri}\n"
                    f"run it with: tuneforge worker --storage {url} --study {record.name}  (or --all)")
