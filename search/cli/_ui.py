"""``tuneforge ui``: MLflow's UI and Optuna's dashboard on a study's stores, until Ctrl-C."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Annotated, Optional

import typer

from search.cli._app import app
from spaces.core import TuneforgeError, Url

STARTUP_SECONDS = 180.0  # MLflow imports for a while on a busy 2-core machine
STUDY_SUFFIXES = (".yaml", ".yml", ".json", ".toml")


def _study_names(study: str, storage_url: Url) -> tuple[str, str, str | None]:
    """(study name, MLflow experiment name, the study's tracking URI) of a study file or a stored name."""
    from tracking._ui import stored_spec

    if Path(study).suffix in STUDY_SUFFIXES:
        from search.spec import load_study

        loaded = load_study(study)
        return loaded.name, loaded.spec.tracking.experiment or loaded.name, loaded.spec.tracking.uri
    spec = stored_spec(storage_url, study) or {}  # not stored: the experiment has the study's name by default
    tracking = spec.get("tracking") or {}
    return study, tracking.get("experiment") or study, tracking.get("uri")


def _check_local_stores(tracking_uri: Url, storage_url: Url | None) -> None:
    if tracking_uri.is_sqlite and tracking_uri.local_path and not tracking_uri.local_path.is_file():
        raise TuneforgeError(f"no MLflow store at {tracking_uri.local_path}",
                             hint="run a study here first, set TUNEFORGE_HOME, or pass --tracking-uri")
    if storage_url and storage_url.is_journal and not storage_url.local_path.is_file():
        raise TuneforgeError(f"no study storage at {storage_url.local_path}",
                             hint="run a study here first, or pass --storage URL or --no-dashboard")


class _Signals:
    """SIGINT/SIGTERM only set a flag: the main loop notices it and stops the servers itself."""

    def __init__(self) -> None:
        self.received: int | None = None
        self._saved = {s: signal.signal(s, self._handle) for s in (signal.SIGINT, signal.SIGTERM)}

    def _handle(self, signum: int, _frame: object) -> None:
        self.received = signum

    def sleep(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while self.received is None and time.monotonic() < end:
            time.sleep(min(0.1, max(0.0, end - time.monotonic())))

    def restore(self) -> None:
        for signum, handler in self._saved.items():
            signal.signal(signum, handler)


def _exit_code(signum: int) -> int:
    return 130 if signum == signal.SIGINT else 128 + signum


@app.command()
def ui(
    study: Annotated[Optional[str], typer.Argument(metavar="STUDY", show_default=False,
                                                   help="A study file or name: open its experiment and study.")] = None,
    tracking_uri: Annotated[Optional[str], typer.Option(help="MLflow tracking URI (default: the study's, "
                                                        "$MLFLOW_TRACKING_URI or .tuneforge/mlflow.db).")] = None,
    storage: Annotated[Optional[str], typer.Option(help="Study storage URL (default: the journal file "
                                                   "under .tuneforge/).", envvar="TUNEFORGE_STORAGE")] = None,
    host: Annotated[str, typer.Option(help="Interface both servers listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="MLflow UI port.")] = 5000,
    dashboard_port: Annotated[int, typer.Option(min=1, max=65535, help="Optuna dashboard port.")] = 8080,
    dashboard: Annotated[bool, typer.Option(help="Also start Optuna's dashboard.")] = True,
) -> None:
    """Browse a study: MLflow's UI (every trial, its curves and artifacts) and Optuna's dashboard."""
    from tracking import _ui
    from spaces.core import resolve_storage_url, resolve_tracking_uri, workdir

    signals = _Signals()
    try:
        storage_url = resolve_storage_url(storage)
        names = _study_names(study, storage_url) if study else None
        tracking = resolve_tracking_uri(tracking_uri or (names[2] if names else None))
        _check_local_stores(tracking, storage_url if dashboard else None)
        if dashboard and dashboard_port == port:
            raise TuneforgeError(f"--port and --dashboard-port are both {port}", hint="give them different ports")
        _ui.check_port_free(host, port, "the MLflow UI", "--port")
        if dashboard:
            _ui.check_port_free(host, dashboard_port, "the Optuna dashboard", "--dashboard-port")

        log_dir = workdir() / "logs" / "ui"
        servers = [_ui.mlflow_server(tracking, host, port, log_dir)]
        if dashboard:
            servers.append(_ui.dashboard_server(storage_url, host, dashboard_port, log_dir))
        code = _serve(servers, signals, names, tracking, storage_url if dashboard else None)
    finally:
        signals.restore()
    if code:
        raise typer.Exit(code)


def _serve(servers: list, signals: _Signals, names: tuple[str, str, str | None] | None, tracking: Url,
           storage_url: Url | None) -> int:
    """Start the servers, print their URLs, wait for a signal; always stops them."""
    from tracking import _ui

    mlflow, dashboard = servers[0], (servers[1] if len(servers) > 1 else None)
    try:
        for server in servers:
            if signals.received is None:
                server.start()
        pending = list(servers)
        deadline = time.monotonic() + STARTUP_SECONDS
        while pending and signals.received is None:
            for server in list(pending):
                code = server.exited()
                if code is not None:
                    typer.echo(f"error: {server.name} exited during startup (status {code}): "
                               f"{server.last_lines() or 'no output'} (log: {server.log_path})", err=True)
                    return 1
                if server.answers():
                    pending.remove(server)
            if pending and time.monotonic() > deadline:
                names_left = " and ".join(s.name for s in pending)
                typer.echo(f"error: {names_left} did not answer within {STARTUP_SECONDS:.0f}s "
                           f"(log: {pending[0].log_path})", err=True)
                return 1
            signals.sleep(0.3)
        if signals.received is not None:
            return _exit_code(signals.received)

        mlflow_url = mlflow.url + "/"
        dashboard_url = dashboard.url + "/dashboard" if dashboard else None
        if names is not None:
            study_name, experiment, _ = names
            try:
                exp_id = _ui.experiment_id(mlflow, experiment)
            except (OSError, ValueError, KeyError) as exc:  # HTTP 5xx, bad JSON: the server's log says why
                raise TuneforgeError(f"the MLflow UI could not look up experiment '{experiment}': {exc}",
                                     hint=f"log: {mlflow.log_path}") from None
            if exp_id is None:
                raise TuneforgeError(f"no MLflow experiment '{experiment}' in {tracking}",
                                     hint="run the study first, or pass the --tracking-uri it used")
            # MLflow 3 opens an experiment on its GenAI overview (traces) unless told this is model training
            mlflow_url = f"{mlflow.url}/#/experiments/{exp_id}?workflowType=machine_learning"
            if dashboard is not None:
                try:
                    study_id = _ui.dashboard_study_id(dashboard, study_name)
                except (OSError, ValueError, KeyError):  # the dashboard's home page lists the studies anyway
                    study_id = None
                if study_id is not None:
                    dashboard_url = f"{dashboard.url}/dashboard/studies/{study_id}"
        typer.echo(f"MLflow UI:        {mlflow_url}")
        if dashboard_url:
            typer.echo(f"Optuna dashboard: {dashboard_url}")
        typer.echo(f"tracking {tracking}" + (f", storage {storage_url}" if storage_url else "")
                   + f"; logs in {mlflow.log_path.parent}")
        typer.echo("Ctrl-C stops " + ("both servers." if dashboard else "the server."))

        while signals.received is None:
            for server in servers:
                code = server.exited()
                if code is not None:
                    typer.echo(f"error: {server.name} stopped (status {code}): {server.last_lines() or 'no output'} "
                               f"(log: {server.log_path})", err=True)
                    return 1
            signals.sleep(0.5)
        return _exit_code(signals.received)
    finally:
        if signals.received is not None:
            typer.echo("stopping the servers…", err=True)
        _ui.stop_servers(servers)
