"""``tuneforge run``: prepare the study, supervise the workers, export the best model."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from search.engines import TrialRecord, best_of, engine_class
from search.driver._best import BestModel, export_best, export_dir_for
from search.data import dataset_for
from search.driver._finished import exported_best, finished_trials
from search.driver._prepare import StudyMismatchError, prepare_run
from search.storage import stored_study
from search.workers._plan import RunPlan
from search.spec import Study
from spaces.core import TrialState, resolve_storage_url, resolve_tracking_uri


@dataclass
class RunOptions:
    """Command-line overrides of the study file."""

    trials: int | None = None
    timeout: float | None = None
    workers: int | None = None
    storage: str | None = None
    tracking_uri: str | None = None
    seed: int | None = None
    export_dir: str | None = None
    export: bool = True
    gpus: str | list[int] | None = None  # "auto" | "none" | [0, 2]; None: the study's resources.gpus
    trials_per_gpu: int | None = None
    ray: str | None = None  # --ray ADDRESS; None: the study's resources.ray, else local worker processes
    executor: str = "local"  # search.executors.EXECUTORS: where the workers run (--ray picks "ray")
    executor_options: dict[str, Any] = field(default_factory=dict)  # that executor's own options


@dataclass
class RunOutcome:
    """What a run did: its plan, every trial, the best model and the workers' fate."""

    plan: RunPlan
    trials: list[TrialRecord]
    best: BestModel | None
    seconds: float
    deaths: list[str] = field(default_factory=list)
    dashboard: str | None = None  # the Ray dashboard's address (runs on Ray)


def load_records(storage_url: str, study_name: str) -> Callable[[], list[TrialRecord]]:
    """A function that reads the study's trials afresh each call."""
    import optuna

    from search.engines.optuna import to_record
    from search.storage import get_storage

    study = optuna.load_study(study_name=study_name, storage=get_storage(storage_url))
    return lambda: [to_record(t) for t in study.get_trials(deepcopy=False)]


REPORT_EVERY = 10  # refresh the study's plots on its parent run every this many finished trials


def _signature(trials: list[TrialRecord]) -> tuple[tuple[int, str], ...]:
    return tuple(sorted((t.number, t.state.value) for t in trials))


class _StudyReporter:
    """Keeps the parent run's study report (plots, leaderboard) fresh while the study runs.

    Refreshes during the run happen on a background thread (a few seconds of plotting
    must not stall the supervisor's loop: progress, dead workers); :meth:`finish` waits
    for one in flight and refreshes once more only if the trials changed since it started.
    The first finished trial starts the report's one-time work on that thread
    (:func:`tracking.plots.warm_up`: 3-6 s of imports and fonts that would otherwise
    come after the last trial).
    """

    def __init__(self, client: Any, plan: RunPlan, study: Study, *, after: Callable[[], None] | None = None) -> None:
        self.client, self.plan, self.study = client, plan, study
        self.after = after  # wait for this (TensorFlow's import) before warming up: one import at a time
        self.reported_at = 0
        self._thread: threading.Thread | None = None
        self._shown: tuple[tuple[int, str], ...] | None = None  # the trials the last refresh started from

    def maybe_refresh(self, trials: list[TrialRecord]) -> None:
        finished = sum(1 for t in trials if t.state is not TrialState.RUNNING)
        if self._thread is None and finished:
            self._thread = threading.Thread(target=_warm_up_report, args=(self.after,), name="tuneforge-report-warm-up",
                                            daemon=True)
            self._thread.start()
        if finished >= self.reported_at + REPORT_EVERY and (self._thread is None or not self._thread.is_alive()):
            self.reported_at = finished
            self._shown = _signature(trials)
            self._thread = threading.Thread(target=self.refresh, name="tuneforge-study-report", daemon=True)
            self._thread.start()

    def finish(self, trials: list[TrialRecord]) -> None:
        """The last refresh of the run (skipped when one already drew exactly these trials)."""
        if self._thread is not None:
            self._thread.join()
        if self._shown != _signature(trials):
            self._shown = _signature(trials)
            self.refresh()

    def refresh(self) -> None:
        import optuna

        from search.storage import get_storage
        from tracking.plots import log_study_report

        try:
            optuna_study = optuna.load_study(study_name=self.plan.study_name,
                                             storage=get_storage(self.plan.storage_url))
            log_study_report(self.client, self.plan.parent_run_id, optuna_study, metric=self.study.metric,
                             direction=self.study.direction)
        except Exception as exc:  # noqa: BLE001 - a plot must never stop the study
            self.client.set_tag(self.plan.parent_run_id, "report_error", f"{type(exc).__name__}: {exc}"[:500])


def _warm_up_report(after: Callable[[], None] | None) -> None:
    from tracking.plots import warm_up

    if after is not None:
        after()
    try:
        warm_up()
    except Exception:  # noqa: BLE001, S110 - only a head start: the report itself says what fails
        pass


class _TensorFlowWarmUp:
    """Imports TensorFlow on a background thread once the workers have booted, for the export at the end.

    The run's own process needs TensorFlow only to retrain and export the best model;
    importing it then added seconds to every run's end. It starts once a trial has
    finished (the workers' own imports are over by then, so it competes with none).
    The quiet import points the process's stderr at a scratch file while it lasts: the
    progress bar may skip a frame, and every path that prints an error joins it first.
    """

    def __init__(self) -> None:
        self._thread: threading.Thread | None = None

    def once_a_trial_finished(self, trials: list[TrialRecord]) -> None:
        if self._thread is None and any(t.state is not TrialState.RUNNING for t in trials):
            from search._quiet import import_tensorflow_quietly

            self._thread = threading.Thread(target=import_tensorflow_quietly, name="tuneforge-import-tf", daemon=True)
            self._thread.start()

    def join(self) -> None:
        """Wait for the import (it silences the process's stderr meanwhile: join before printing errors)."""
        if self._thread is not None:
            self._thread.join()


def _sweep(client: Any, plan: RunPlan, trials: list[TrialRecord], reason: str) -> None:
    from tracking import mlflow_log

    running = {t.number for t in trials if t.state is TrialState.RUNNING}
    mlflow_log.fail_orphan_runs(client, plan.experiment_id, plan.parent_run_id, running_trials=running,
                                reason=reason, finished_runs=mlflow_log.finished_runs_of(trials))


def _rerun_finished(study: Study, options: RunOptions, plan: RunPlan, trials: list[TrialRecord], *,
                    start: float) -> RunOutcome:
    """A finished study's outcome: its best model from the export, exported (and logged) only if missing."""
    best = best_of(trials, study.direction)
    if best is None or not options.export:
        return RunOutcome(plan, trials, None, time.time() - start)
    directory = export_dir_for(study, options.export_dir)
    best_model = exported_best(study, best, directory)
    if best_model is None:
        from tracking import mlflow_log

        dataset = dataset_for(study)
        plan = prepare_run(study, storage_url=plan.storage_url, tracking_uri=plan.tracking_uri, trials=plan.budget,
                           timeout=None, seed=options.seed, workers=0, data_sha256=dataset.info.sha256)
        client = mlflow_log.client_for(plan.tracking_uri)
        best_model = export_best(study, best, dataset, train_seed=plan.train_seed, directory=directory,
                                 tracking=(client, plan.parent_run_id))
        client.set_terminated(plan.parent_run_id, status="FINISHED")
    return RunOutcome(plan, trials, best_model, time.time() - start)


def run_study(study: Study, options: RunOptions,
              progress: Callable[[RunPlan, list[TrialRecord]], None] | None = None) -> RunOutcome:
    """Run (or resume) a study with its executor's workers (local processes, or Ray actors) and export its best model."""
    from search.driver._executor import executor_for
    from tracking import mlflow_log

    start = time.time()
    engine = engine_class(study)  # an engine `run` cannot run is refused before anything starts
    if options.export:  # an unusable export folder is refused before the search, not after it
        from tracking._target import check_export_target

        check_export_target(export_dir_for(study, options.export_dir))
    storage_url = resolve_storage_url(options.storage)
    tracking_uri = resolve_tracking_uri(options.tracking_uri or study.spec.tracking.uri)
    mlflow_log.check_server(tracking_uri)  # an unreachable server is refused before the storage is written
    finished = finished_trials(study, storage_url, tracking_uri, trials=options.trials, seed=options.seed)
    if finished is not None:  # the budget is spent: answer without booting a worker
        return _rerun_finished(study, options, *finished, start=start)
    executor = executor_for(study, options, storage_url=storage_url, tracking_uri=tracking_uri)
    executor.boot()  # the workers import TensorFlow meanwhile, then wait for the plan
    try:
        dataset = dataset_for(study)  # bad data fails here, before any trial or run is created
        executor.share(dataset)  # once (Ray: into its object store)
        plan = prepare_run(study, storage_url=storage_url, tracking_uri=tracking_uri, trials=options.trials,
                           timeout=options.timeout, seed=options.seed, workers=executor.size,
                           data_sha256=dataset.info.sha256)
        chief = engine.start_chief(study, plan, host=executor.chief_host)
        client = mlflow_log.client_for(tracking_uri)
        records = load_records(storage_url, study.name)
    except BaseException:
        executor.abort()
        raise

    def on_lost(lost: list[Any], reason: str) -> None:
        for trial in lost:
            if trial.mlflow_run_id:
                mlflow_log.fail_run(client, trial.mlflow_run_id, reason)

    warm_up = _TensorFlowWarmUp() if options.export else None
    report_study = _StudyReporter(client, plan, study, after=warm_up.join if warm_up is not None else None)

    def tick() -> None:
        trials = records()
        if progress is not None:
            progress(plan, trials)
        if warm_up is not None:
            warm_up.once_a_trial_finished(trials)
        report_study.maybe_refresh(trials)

    try:
        report = executor.run(plan, tick=tick, on_lost=on_lost, retry_lost=not engine.retries_lost,
                              **(chief.executor_hooks() if chief is not None else {}))
    except BaseException:
        if warm_up is not None:
            warm_up.join()
        _sweep(client, plan, records(), "interrupted before it finished")
        client.set_terminated(plan.parent_run_id, status="KILLED")
        raise
    finally:
        if chief is not None:
            chief.stop()
        executor.close()
    trials = records()
    _sweep(client, plan, trials, "its worker stopped before it finished")
    best = best_of(trials, study.direction)
    best_model = None
    final_report = threading.Thread(target=report_study.finish, args=(trials,), name="tuneforge-final-report",
                                    daemon=True)
    final_report.start()  # the final report (plots) and the export's retraining overlap: neither needs the other
    try:
        if warm_up is not None:
            warm_up.join()
        if best is not None and options.export:
            best_model = export_best(study, best, dataset, train_seed=plan.train_seed,
                                     directory=export_dir_for(study, options.export_dir),
                                     tracking=(client, plan.parent_run_id))
    finally:
        final_report.join()
    client.set_terminated(plan.parent_run_id, status="FINISHED")
    return RunOutcome(plan, trials, best_model, time.time() - start, report.deaths,
                      dashboard=executor.dashboard)


__all__ = ["BestModel", "RunOptions", "RunOutcome", "RunPlan", "StudyMismatchError", "best_of", "dataset_for",
           "export_best", "export_dir_for", "load_records", "prepare_run", "run_study", "stored_study"]
