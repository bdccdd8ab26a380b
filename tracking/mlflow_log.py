"""Log studies and trials to MLflow through ``MlflowClient`` with explicit run ids.

Never the global active run, so parallel workers and threads cannot cross-log.
One parent run per study, one nested run per trial; per-epoch metrics are
buffered and written with ``log_batch`` (one call per flush, not per value).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

from spaces.core import TrialState, TuneforgeError, Url, resolve_tracking_uri
from tracking._store import default_artifact_root, prepare_local_store

MAX_BATCH = 1000  # MLflow's limit of metrics per log_batch call
MAX_PARAM_LENGTH = 6000
FLUSH_SECONDS = 5.0


def check_server(tracking_uri: str | Url, timeout: float = 10.0) -> None:
    """Fail fast, with a clear error, when an http(s) tracking server does not answer.

    MLflow's own client retries a refused connection with backoff for minutes. The
    request goes to the server without the URI's userinfo (``/health`` needs no login).
    """
    uri = resolve_tracking_uri(tracking_uri)
    if uri.scheme not in ("http", "https"):
        return
    import base64
    import urllib.error
    import urllib.parse
    import urllib.request

    parts = urllib.parse.urlsplit(uri.secret())  # user:password@ is HTTP basic auth, not part of the host name
    request = urllib.request.Request(urllib.parse.urlunsplit(
        (parts.scheme, parts.netloc.rpartition("@")[2], parts.path.rstrip("/") + "/health", "", "")))
    if parts.username is not None:
        token = f"{urllib.parse.unquote(parts.username)}:{urllib.parse.unquote(parts.password or '')}".encode()
        request.add_header("Authorization", "Basic " + base64.b64encode(token).decode())
    try:
        urllib.request.build_opener(urllib.request.ProxyHandler({})).open(request, timeout=timeout).close()
    except urllib.error.HTTPError:
        return  # it answers (auth or an older server without /health): let MLflow speak
    except (OSError, ValueError) as exc:
        reason = uri.scrub(str(getattr(exc, "reason", exc)))
        raise TuneforgeError(
            f"the MLflow tracking server {uri} does not answer ({reason})",
            hint="start it (mlflow server --host 127.0.0.1 --port PORT ...) or fix --tracking-uri / "
                 "MLFLOW_TRACKING_URI",
        ) from None


def client_for(tracking_uri: str | Url) -> Any:
    """An ``MlflowClient`` on ``tracking_uri`` (local stores are created and put in WAL mode)."""
    from mlflow import MlflowClient

    from tracking._first_use import first_use_lock

    uri = resolve_tracking_uri(tracking_uri)
    check_server(uri)
    with first_use_lock(uri):  # one process creates a new local store's schema, the others wait
        prepare_local_store(uri)
        client = MlflowClient(tracking_uri=uri.secret())
        client.search_experiments(max_results=1)  # the store (and its schema) is made here, under the lock
    return client


def ensure_experiment(client: Any, name: str, tracking_uri: str | Url) -> str:
    """The id of experiment ``name``, created (with a local artifact root) if missing."""
    from mlflow.exceptions import MlflowException

    existing = client.get_experiment_by_name(name)
    if existing is not None:
        if existing.lifecycle_stage == "deleted":
            client.restore_experiment(existing.experiment_id)
        return existing.experiment_id
    try:
        return client.create_experiment(name, artifact_location=default_artifact_root(tracking_uri))
    except MlflowException:  # another process created it first
        return client.get_experiment_by_name(name).experiment_id


def _params(values: Mapping[str, Any]) -> list[Any]:
    from mlflow.entities import Param

    out = []
    for key, value in values.items():
        text = value if isinstance(value, str) else json.dumps(value, default=str)
        out.append(Param(str(key), text[:MAX_PARAM_LENGTH]))
    return out


def log_params(client: Any, run_id: str, values: Mapping[str, Any]) -> None:
    """Log many params in as few calls as MLflow allows (100 per batch)."""
    params = _params(values)
    for i in range(0, len(params), 100):
        client.log_batch(run_id, params=params[i:i + 100])


def log_metrics(client: Any, run_id: str, values: Mapping[str, float], step: int = 0) -> None:
    """Log several metrics at one step in one call."""
    from mlflow.entities import Metric

    now = int(time.time() * 1000)
    metrics = [Metric(k, float(v), now, step) for k, v in values.items()]
    for i in range(0, len(metrics), MAX_BATCH):
        client.log_batch(run_id, metrics=metrics[i:i + MAX_BATCH])


def start_parent_run(client: Any, experiment_id: str, study_name: str, *, params: Mapping[str, Any],
                     tags: Mapping[str, str]) -> str:
    """Create the study's parent run and log what defines the study."""
    run = client.create_run(experiment_id, run_name=study_name,
                            tags={"tuneforge.role": "study", "tuneforge.study": study_name, **tags})
    log_params(client, run.info.run_id, params)
    return run.info.run_id


class TrialRun:
    """One trial's nested MLflow run: params at start, epochs buffered, state at the end."""

    def __init__(self, client: Any, experiment_id: str, parent_run_id: str, *, study_name: str,
                 trial_number: int, worker: str, config: Mapping[str, Any], tags: Mapping[str, str] = {}) -> None:
        self.client = client
        self.started = time.time()
        run = client.create_run(
            experiment_id,
            run_name=f"trial-{trial_number:04d}",
            tags={
                "mlflow.parentRunId": parent_run_id,
                "tuneforge.role": "trial",
                "tuneforge.study": study_name,
                "trial_number": str(trial_number),
                "worker": worker,
                "state": TrialState.RUNNING.value,
                **tags,
            },
        )
        self.run_id: str = run.info.run_id
        log_params(client, self.run_id, config)
        self._buffer: list[Any] = []
        self._last_flush = time.monotonic()

    def log_epoch(self, epoch: int, logs: Mapping[str, float]) -> None:
        """Buffer one epoch's metrics (step=epoch); written every few seconds and at the end."""
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        self._buffer.extend(Metric(k, float(v), now, epoch) for k, v in logs.items())
        if time.monotonic() - self._last_flush > FLUSH_SECONDS:
            self.flush()

    def flush(self) -> None:
        """Write buffered metrics in batches of up to 1,000."""
        while self._buffer:
            chunk, self._buffer = self._buffer[:MAX_BATCH], self._buffer[MAX_BATCH:]
            self.client.log_batch(self.run_id, metrics=chunk)
        self._last_flush = time.monotonic()

    def finish(self, state: TrialState, *, objective: float | None, metric: str, extra: Mapping[str, float] = {},
               error: str | None = None, tags: Mapping[str, str] = {}) -> None:
        """Write the final objective and state: COMPLETE/PRUNED -> FINISHED, FAIL -> FAILED."""
        from mlflow.entities import Metric, RunTag

        self.flush()
        final: dict[str, float] = dict(extra)
        if objective is not None and state is TrialState.COMPLETE:
            final["objective"] = objective
        final["duration_seconds"] = time.time() - self.started
        now = int(time.time() * 1000)
        all_tags = {"state": state.value, **tags}
        if error:
            all_tags["error"] = error[:5000]
        self.client.log_batch(
            self.run_id,
            metrics=[Metric(k, float(v), now, 0) for k, v in final.items()],
            tags=[RunTag(k, str(v)) for k, v in all_tags.items()],
        )
        self.client.set_terminated(self.run_id, status=state.mlflow_status)


def fail_run(client: Any, run_id: str, reason: str) -> None:
    """Mark a run left RUNNING by a dead worker as FAILED with the reason."""
    client.set_tag(run_id, "state", TrialState.FAIL.value)
    client.set_tag(run_id, "error", reason[:5000])
    client.set_terminated(run_id, status="FAILED")


def fail_orphan_runs(client: Any, experiment_id: str, parent_run_id: str, *, running_trials: set[int],
                     reason: str, finished_runs: Mapping[str, TrialState] = {}) -> list[str]:
    """End every trial run still RUNNING under ``parent_run_id`` whose trial is not running.

    ``finished_runs`` maps the run id of each trial the study storage already finished to
    that trial's state. Such a run ends with its trial's state: its worker was still
    uploading the trial's artifacts (and will end it the same way), or died just after
    recording the result, which must not turn a COMPLETE trial into a FAILED run. Every
    other run (created just before its worker was killed, before the study storage knew
    its id) is marked FAILED with ``reason``. Returns the run ids it failed.
    """
    runs = client.search_runs(
        [experiment_id],
        filter_string=f"tags.`mlflow.parentRunId` = '{parent_run_id}' and attributes.status = 'RUNNING'",
        max_results=10_000,
    )
    failed = []
    for run in runs:
        number = run.data.tags.get("trial_number")
        if number is not None and int(number) in running_trials:
            continue
        state = finished_runs.get(run.info.run_id)
        if state is not None:
            client.set_tag(run.info.run_id, "state", state.value)
            client.set_terminated(run.info.run_id, status=state.mlflow_status)
            continue
        fail_run(client, run.info.run_id, reason)
        failed.append(run.info.run_id)
    return failed


def finished_runs_of(trials: Any) -> dict[str, TrialState]:
    """Run id -> state of every finished trial (``TrialRecord``s) that knows its MLflow run."""
    return {t.attrs["mlflow_run_id"]: t.state for t in trials
            if t.state is not TrialState.RUNNING and t.attrs.get("mlflow_run_id")}
