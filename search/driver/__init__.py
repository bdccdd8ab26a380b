"""``tuneforge run``: prepare the study, supervise the workers, export the best model."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from search.engines import TrialRecord, best_of
from search.driver._best import BestModel, export_best, export_dir_for
from search.driver._data import dataset_for
from search.driver._plan import RunPlan
from search.driver._prepare import StudyMismatchError, prepare_run, stored_study
from search.spec import Study
from search.states import TrialState
from tracking._store import resolve_tracking_uri, workdir


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

    from search.engines.optuna import open_storage, to_record

    study = optuna.load_study(study_name=study_name, storage=open_storage(storage_url))
    return lambda: [to_record(t) for t in study.get_trials(deepcopy=False)]


REPORT_EVERY = 10  # refresh the study's plots on its parent run every this many finished trials


def _signature(trials: list[TrialRecord]) -> tuple[tuple[int, str], ...]:
    return tuple(sorted((t.number, t.state.value) for t in trials))


class _StudyReporter:
    """Keeps the parent run's study report (plots, leaderboard) fresh while the study runs.

    Refreshes during the run happen on a background thread (a few seconds of plotting
    must not stall the supervisor's loop: progress, dead workers); :meth:`finish` waits
    for one in flight and refreshes once more only if the trials changed since it started.
    """

    def __init__(self, client: Any, plan: RunPlan, study: Study) -> None:
        self.client, self.plan, self.study = client, plan, study
        self.reported_at = 0
        self._thread: threading.Thread | None = None
        self._shown: tuple[tuple[int, str], ...] | None = None  # the trials the last refresh started from

    def maybe_refresh(self, trials: list[TrialRecord]) -> None:
        finished = sum(1 for t in trials if t.state is not TrialState.RUNNING)
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

        from search.engines.optuna import open_storage
        from tracking.plots import log_study_report

        try:
            optuna_study = optuna.load_study(study_name=self.plan.study_name,
                                             storage=open_storage(self.plan.storage_url))
            log_study_report(self.client, self.plan.parent_run_id, optuna_study, metric=self.study.metric,
                             direction=self.study.direction)
        except Exception as exc:  # noqa: BLE001 - a plot must never stop the study
            self.client.set_tag(self.plan.parent_run_id, "report_error", f"{type(exc).__name__}: {exc}"[:500])


def _sweep(client: Any, plan: RunPlan, trials: list[TrialRecord], reason: str) -> None:
    from tracking import mlflow_log

    running = {t.number for t in trials if t.state is TrialState.RUNNING}
    mlflow_log.fail_orphan_runs(client, plan.experiment_id, plan.parent_run_id, running_trials=running,
                                reason=reason, finished_runs=mlflow_log.finished_runs_of(trials))


def _keras_tuner_chief(study: Study, plan: RunPlan, host: str) -> Any:
    """Keras Tuner's chief for this run: its oracle reloaded from ``.tuneforge/`` and served to the workers."""
    from search.engines.keras_tuner import Chief

    chief = Chief(study, budget=plan.budget, seed=plan.sampler_seed, host=host)
    chief.start()
    return chief


def run_study(study: Study, options: RunOptions,
              progress: Callable[[RunPlan, list[TrialRecord]], None] | None = None) -> RunOutcome:
    """Run (or resume) a study with local worker processes and export its best model."""
    from search.engines.optuna import resolve_storage_url
    from search.driver._devices import run_slots
    from search.workers import Supervisor
    from tracking import mlflow_log

    start = time.time()
    engine = study.spec.search.engine
    if engine == "grid":
        from spaces import SpecError

        raise SpecError(
            "engine: grid is scikit-learn's GridSearchCV, which `tuneforge compare` runs; "
            "`tuneforge run` runs engine: optuna or keras_tuner",
            path=("search", "engine"), source=study.source,
            hint="use engine: optuna with algorithm: grid, or `tuneforge compare STUDY --strategies grid,tpe`",
        )
    storage_url = resolve_storage_url(options.storage)
    tracking_uri = resolve_tracking_uri(options.tracking_uri or study.spec.tracking.uri)
    ray_address = options.ray or study.spec.resources.ray
    if ray_address:
        from search.executors import ray_executor

        supervisor: Any = ray_executor(study, ray_address, workers=options.workers, gpus=options.gpus,
                                       trials_per_gpu=options.trials_per_gpu, tracking_uri=tracking_uri)
    else:
        slots = run_slots(study, gpus=options.gpus, trials_per_gpu=options.trials_per_gpu, workers=options.workers)
        supervisor = Supervisor(slots, workdir() / "logs" / study.name)
    supervisor.boot()  # the workers import TensorFlow meanwhile, then wait for the plan
    try:
        dataset = dataset_for(study)  # bad data fails here, before any trial or run is created
        if ray_address:
            supervisor.share(dataset)  # once, into Ray's object store
            from search.executors import print_addresses

            print_addresses(supervisor.dashboard_url, tracking_uri)
        plan = prepare_run(study, storage_url=storage_url, tracking_uri=tracking_uri, trials=options.trials,
                           timeout=options.timeout, seed=options.seed,
                           workers=len(supervisor.actors) if ray_address else len(slots),
                           data_sha256=dataset.info.sha256)
        chief = (_keras_tuner_chief(study, plan, getattr(supervisor, "host", "127.0.0.1"))
                 if engine == "keras_tuner" else None)
        client = mlflow_log.client_for(tracking_uri)
        records = load_records(storage_url, study.name)
    except BaseException:
        supervisor.abort()
        raise

    def on_lost(lost: list[Any], reason: str) -> None:
        for trial in lost:
            if trial.mlflow_run_id:
                mlflow_log.fail_run(client, trial.mlflow_run_id, reason)

    report_study = _StudyReporter(client, plan, study)

    def tick() -> None:
        trials = records()
        if progress is not None:
            progress(plan, trials)
        report_study.maybe_refresh(trials)

    try:
        report = supervisor.run(plan, tick=tick, on_lost=on_lost,
                                **(chief.supervisor_hooks() if chief is not None else {}))
    except BaseException:
        _sweep(client, plan, records(), "interrupted before it finished")
        client.set_terminated(plan.parent_run_id, status="KILLED")
        raise
    finally:
        if chief is not None:
            chief.stop()
        if ray_address:
            supervisor.shutdown()
    trials = records()
    _sweep(client, plan, trials, "its worker stopped before it finished")
    report_study.finish(trials)
    best = best_of(trials, study.direction)
    best_model = None
    if best is not None and options.export:
        best_model = export_best(study, best, dataset, train_seed=plan.train_seed,
                                 directory=export_dir_for(study, options.export_dir),
                                 tracking=(client, plan.parent_run_id))
    client.set_terminated(plan.parent_run_id, status="FINISHED")
    return RunOutcome(plan, trials, best_model, time.time() - start, report.deaths,
                      dashboard=getattr(supervisor, "dashboard_url", None))


__all__ = ["BestModel", "RunOptions", "RunOutcome", "RunPlan", "StudyMismatchError", "best_of", "dataset_for",
           "export_best", "export_dir_for", "load_records", "prepare_run", "run_study", "stored_study"]
