"""Run a whole comparison: check inputs, then repeats x strategies, then the report and MLflow.

Inputs are checked before anything heavy loads (strategy names, gp's PyTorch, the
budget string, the grid's size), so a mistake costs no TensorFlow start-up. Repeat
``r`` trains with seed ``seed + r`` for every strategy (the grid included) and seeds
the samplers with it too; within a repeat a config scores the same in every strategy.
With several workers the fits run in joblib's loky processes, each capped at its
share of the cores; the pool is started (and TensorFlow imported in it) before any
strategy's clock starts.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from search.compare._budget import Budget, parse_budget
from search.compare._names import check_strategies
from search.spec import Study
from spaces import SpecError, grid_size

MAX_GRID = 5000  # configs; more is not a grid search anyone can wait for


@dataclass
class CompareOptions:
    """What ``tuneforge compare`` takes besides the study."""

    strategies: str = "grid,random,tpe"
    repeats: int = 3
    budget: str | None = None
    workers: int | None = None
    report_dir: str | None = None
    tracking_uri: str | None = None
    seed: int | None = None


@dataclass
class Comparison:
    """The outcome: every strategy run, the report files and the MLflow parent run."""

    study: Study
    strategies: list[str]
    budget: Budget
    grid_fits: int
    folds: int
    workers: int
    report_dir: Path
    runs: list[Any] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    summary: list[dict[str, Any]] = field(default_factory=list)
    parent_run_id: str | None = None
    tracking_uri: str = ""
    experiment: str = ""
    label: str = ""  # what the values are: accuracy, mse, ...


Progress = Callable[[str, int, int, int], None]  # (label, repeat, fits done, fits planned)


def _grid_configs(study: Study) -> int:
    points = study.spec.grid.points
    n = grid_size(study.space, points)
    if n < 2:
        raise SpecError("has nothing to search: the grid holds a single config", path=("space",),
                        hint="give at least one parameter two or more values")
    if n > MAX_GRID:
        raise SpecError(f"cannot be gridded for a comparison: the grid holds {n:,} configs (at most {MAX_GRID:,})",
                        path=("space",), hint="give ranges a short `grid: [...]` list, lower `grid.points`, "
                                              "or search fewer parameters")
    return n


def _count_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _warm(threads: int | None, parent: int | None = None) -> int:
    """Start TensorFlow in a worker process with its thread cap, its start-up chatter off stderr.

    Runs before any strategy's clock starts, so no strategy pays for starting the pool.
    """
    import sys
    import tempfile

    from search._lifetime import die_with_parent

    die_with_parent(parent, pool=True)  # a pool worker must not outlive `tuneforge compare` (kill -9 included)
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            import tensorflow as tf

            from search.compare._estimator import limit_threads

            tf.get_logger().setLevel("ERROR")
            limit_threads(threads)
            float(tf.reduce_sum(tf.ones((2, 2))))  # start the runtime (device probes log here)
        finally:
            os.dup2(saved, 2)
            os.close(saved)
    time.sleep(0.5)  # hold this worker so the next warm-up task goes to another one
    return os.getpid()


def _start_pool(workers: int, threads: int | None) -> None:
    from joblib import Parallel, delayed

    if workers > 1:
        pids = Parallel(n_jobs=workers)(delayed(_warm)(threads, os.getpid()) for _ in range(workers))
        if len(set(pids)) < workers:  # a worker took two tasks: warm the rest
            Parallel(n_jobs=workers)(delayed(_warm)(threads, os.getpid()) for _ in range(2 * workers))


def _watch(path: Path, planned: int, label: str, repeat: int, progress: Progress | None) -> Callable[[], None]:
    """Report the fit log's line count every half second until the returned stop() is called."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(0.5):
            n = path.read_text().count("\n") if path.exists() else 0
            progress(label, repeat, n, planned)  # type: ignore[misc]

    if progress is None:
        return lambda: None
    thread = threading.Thread(target=loop, daemon=True)
    thread.start()

    def done() -> None:
        stop.set()
        thread.join()

    return done


def _planned(strategy: str, budget: Budget, grid_fits: int, folds: int, epochs: int) -> int:
    if strategy == "grid":
        return grid_fits
    if budget.unit == "fits":
        return int(budget.amount) // folds * folds
    if budget.unit == "epochs":
        return int(budget.amount) // max(1, epochs)
    return 0  # time: unknown


def run_comparison(study: Study, options: CompareOptions, *, progress: Progress | None = None) -> Comparison:
    """Compare the strategies on ``study``; writes the report and logs to MLflow."""
    strategies = check_strategies(options.strategies)
    if options.repeats < 1:
        raise SpecError(f"must be >= 1, but got {options.repeats}", path=("--repeats",))
    n_configs = _grid_configs(study)
    folds = study.spec.data.validation.folds if hasattr(study.spec.data.validation, "folds") else 1
    budget = parse_budget(options.budget, grid_fits=n_configs * folds)
    workers = options.workers or study.spec.search.workers
    base_seed = options.seed if options.seed is not None else (
        study.spec.search.seed if study.spec.search.seed is not None else study.spec.data.seed)
    from spaces.core import resolve_tracking_uri, workdir

    report_dir = Path(options.report_dir) if options.report_dir else workdir() / "compare" / study.name
    tracking_uri = resolve_tracking_uri(options.tracking_uri or study.spec.tracking.uri)
    experiment = study.spec.tracking.experiment or study.name

    from search._quiet import import_tensorflow_quietly

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # joblib's worker processes inherit it
    import_tensorflow_quietly()
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")
    from search.compare._evaluate import Setup, scoring_for
    from search.compare._estimator import make_estimator
    from search.compare._mlflow import ComparisonRun
    from search.compare._report import Context, grid_targets, summary_rows, write_report
    from search.compare._strategies import StrategyRun, run_grid, run_proposer
    from search.models import value
    from search.data import dataset_for

    dataset = dataset_for(study)
    scoring = scoring_for(dataset.info.task, study.metric, study.direction)
    threads = max(1, _count_cpus() // workers) if workers > 1 else None
    model_kind = study.spec.model
    epochs = int(value({p.name: getattr(p, "value", None) for p in study.space if hasattr(p, "value")}, "epochs"))

    def estimator(seed: int) -> Any:
        return make_estimator(space=study.space, task=dataset.info.task, model_kind=model_kind, seed=seed,
                              standardize=dataset.info.standardize, threads=threads,
                              search_path=str(study.base_dir))

    setup = Setup(estimator(base_seed), dataset.x_pool, dataset.y_pool, dataset.test_fold, dataset.x_test,
                  dataset.y_test, scoring, workers=workers)
    comparison = Comparison(study, strategies, budget, n_configs * folds, setup.folds, workers, report_dir,
                            tracking_uri=tracking_uri, experiment=experiment, label=scoring.label)
    fit_dir = report_dir / "fits"
    fit_dir.mkdir(parents=True, exist_ok=True)
    for old in fit_dir.glob("*.jsonl"):
        old.unlink()
    mlflow_run = ComparisonRun(tracking_uri, experiment, study.name, {
        "strategies": ",".join(strategies), "repeats": options.repeats, "budget": str(budget),
        "workers": workers, "grid_configs": n_configs, "grid_fits": n_configs * folds, "folds": setup.folds,
        "metric": study.metric, "scorer": scoring.scorer, "direction": study.direction, "seed": base_seed,
        "epochs_per_fit": epochs, "dataset_sha256": dataset.info.sha256,
    })
    comparison.parent_run_id = mlflow_run.run_id
    ctx = Context(study.name, study.metric, scoring.label, study.direction, str(budget), workers, setup.folds,
                  n_configs * folds)
    try:
        _start_pool(workers, threads)
        for repeat in range(options.repeats):
            seed = base_seed + repeat
            repeat_setup = replace(setup, estimator=estimator(seed))
            for strategy in strategies:
                log = fit_dir / f"{strategy}-r{repeat}.jsonl"
                run_setup = replace(repeat_setup, log_path=str(log))
                run = StrategyRun(strategy, repeat, seed, study.direction)
                stop = _watch(log, _planned(strategy, budget, n_configs * folds, setup.folds, epochs), strategy,
                              repeat, progress)
                try:
                    if strategy == "grid":
                        run_grid(run_setup, study.space, study.spec.grid.points, run)
                    else:
                        run_proposer(run_setup, study.space, budget, run)
                finally:
                    stop()
                comparison.runs.append(run)
                mlflow_run.log_strategy(run, target=grid_targets(comparison.runs).get(repeat), fit_log=str(log))
            # the report so far after every repeat: a long comparison stopped early still leaves one
            comparison.files = write_report(comparison.runs, ctx, report_dir)
            comparison.summary = summary_rows(comparison.runs)
        mlflow_run.finish(comparison.summary, comparison.files)
    except BaseException as exc:
        mlflow_run.fail(f"{type(exc).__name__}: {exc}")
        raise
    return comparison
