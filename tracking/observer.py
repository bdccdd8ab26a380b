"""MLflow as a trial observer: one nested run per trial, its epochs, its artifacts, its end.

The worker's trial loop calls the hooks (:class:`spaces.core.TrialObserver`); this module
needs nothing from ``search``. With ``defer=True`` a trial's plots are drawn and uploaded,
and its run ended, on this process's background lane (:mod:`tracking._background`),
overlapping the next trial; :meth:`MlflowObserver.close` drains it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from spaces.core import TrialEnd, TrialInfo, TrialObserver, TrialState
from tracking._background import background
from tracking.mlflow_log import TrialRun

INTERRUPTED = "interrupted (Ctrl-C or SIGTERM)"


class MlflowObserver(TrialObserver):
    """Logs every trial of one study under its parent run (``client`` with explicit run ids)."""

    def __init__(self, client: Any, experiment_id: str, parent_run_id: str, *, dataset: Any = None,
                 defer: bool = False) -> None:
        self.client, self.experiment_id, self.parent_run_id = client, experiment_id, parent_run_id
        self.dataset = dataset  # the trial's validation data, for its plots (None: no artifacts)
        self.defer = defer
        self._runs: dict[int, TrialRun] = {}

    def on_trial_begin(self, trial: TrialInfo) -> Mapping[str, Any]:
        run = TrialRun(self.client, self.experiment_id, self.parent_run_id, study_name=trial.study_name,
                       trial_number=trial.number, worker=trial.worker, config=trial.config, tags=trial.tags)
        self._runs[trial.number] = run
        return {"mlflow_run_id": run.run_id}

    def on_epoch_end(self, trial: TrialInfo, epoch: int, logs: Mapping[str, float]) -> None:
        self._runs[trial.number].log_epoch(epoch, logs)

    def on_trial_lost(self, trial: TrialInfo, reason: str) -> None:
        run = self._runs.pop(trial.number, None)  # None: interrupted before its run was started
        if run is not None:
            run.finish(TrialState.FAIL, objective=None, metric=trial.metric, error=INTERRUPTED)
        try:
            self.close()  # the previous trial's artifacts and run end, before the worker exits
        except Exception:  # noqa: BLE001, S110 - already printed to the worker log; the interrupt wins
            pass

    def on_trial_end(self, trial: TrialInfo, end: TrialEnd) -> None:
        run = self._runs.pop(trial.number)
        artifacts, error = None, None
        if end.result is not None and self.dataset is not None:
            from tracking.trial_artifacts import collect_trial_artifacts

            try:  # what needs the Keras model, here; plots and upload may go to the background
                artifacts = collect_trial_artifacts(result=end.result, dataset=self.dataset, metric=trial.metric,
                                                    config=trial.config,
                                                    title=f"{trial.study_name} trial {trial.number}")
            except Exception as exc:  # noqa: BLE001 - a plot must never cost the trial its result
                error = f"{type(exc).__name__}: {exc}"[:500]

        def log_and_end_run() -> None:  # artifacts first: the run ends only once they are logged
            problem = error
            if artifacts is not None:
                try:
                    artifacts.log(run.client, run.run_id)
                except Exception as exc:  # noqa: BLE001 - a plot must never cost the trial its result
                    problem = f"{type(exc).__name__}: {exc}"[:500]
            if problem:
                run.client.set_tag(run.run_id, "artifacts_error", problem)
            run.finish(end.state, objective=end.objective, metric=trial.metric, extra=end.extra, error=end.error,
                       tags=end.tags)

        if self.defer:
            background().submit(log_and_end_run)
        else:
            log_and_end_run()

    def close(self) -> None:
        background().drain()
