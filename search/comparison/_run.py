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

from search.comparison._budget import Budget, parse_budget
from search.comparison._names import check_strategies
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


Progress = Callable[[str, int, int, int, "float | None"], None]  # (label, repeat, fits done, planned, best so far)


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

            from search.comparison._estimator import limit_threads

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


def _best_in_log(path: Path, folds: int, scoring: Any) -> float | None:
    """The best config value among configs whose every fit is in the fit log (None before any)."""
    import json

    scores: dict[str, list[float]] = {}
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        try:
            event = json.loads(line)
        except ValueError:
            continue  # a line being written
        scores.setdefault(event["key"], []).append(float(event["score"]))
    means = [sum(v) / len(v) for v in scores.values() if len(v) >= folds]
    means = [m for m in means if m == m]
    return scoring.value(max(means)) if means else None


def _watch(path: Path, planned: int, label: str, repeat: int, progress: Progress | None, *, folds: int,
           scoring: Any) -> Callable[[], None]:
    """Report the fit log's line count and best value every half second until the returned stop() is called."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(0.5):
            n = path.read_text().count("\n") if path.exists() else 0
            progress(label, repeat, n, planned, _best_in_log(path, folds, scoring))  # type: ignore[misc]

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
    from search.comparison._evaluate import Setup, scoring_for
    from search.comparison._estimator import make_estimator
    from search.comparison._mlflow import ComparisonRun
    from search.comparison._report import Context, summary_rows, write_report
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
    mlflow_run = ComparisonRun(tracking_uri, experiment, study.name, {
        "strategies": ",".join(strategies), "repeats": options.repeats, "budget": str(budget),
        "workers": workers, "grid_configs": n_configs, "grid_fits": n_configs * folds, "folds": setup.folds,
        "metric": study.metric, "scorer": scoring.scorer, "direction": study.direction, "seed": base_seed,
        "epochs_per_fit": epochs, "dataset_sha256": dataset.info.sha256,
    })
    comparison.parent_run_id = mlflow_run.run_id
    ctx = Context(study.name, study.metric, scoring.label, study.direction, str(budget), workers, setup.folds,
                  n_configs * folds)
    plan = _Plan(study, comparison, setup, estimator, scoring, base_seed, options.repeats, epochs,
                 dataset.info.sha256, progress)
    try:
        with _sigterm_as_interrupt():
            _compare_all(plan, mlflow_run, ctx, threads)
        mlflow_run.finish(comparison.summary, comparison.files)
    except KeyboardInterrupt:
        _stop_pool()
        if comparison.runs:  # a partial report of the finished strategy runs
            comparison.files = write_report(comparison.runs, ctx, report_dir)
            comparison.summary = summary_rows(comparison.runs)
        mlflow_run.client.set_tag(mlflow_run.run_id, "interrupted",
                                  f"after {len(comparison.runs)} finished strategy run(s)")
        mlflow_run.finish(comparison.summary, comparison.files, status="KILLED")
        raise
    except BaseException as exc:
        _stop_pool()
        mlflow_run.fail(f"{type(exc).__name__}: {exc}")
        raise
    return comparison


@dataclass
class _Plan:
    """What the loop over repeats and strategies needs."""

    study: Study
    comparison: Comparison
    setup: Any
    estimator: Callable[[int], Any]
    scoring: Any
    base_seed: int
    repeats: int
    epochs: int
    data_sha256: str
    progress: Progress | None

    def key(self, strategy: str, repeat: int) -> str:
        from search.comparison._resume import fingerprint

        c = self.comparison
        return fingerprint(spec=self.study.spec.to_dict(), data=self.data_sha256, budget=str(c.budget),
                           seed=self.base_seed + repeat, workers=c.workers, strategy=strategy, folds=c.folds)


def _compare_all(plan: _Plan, mlflow_run: Any, ctx: Any, threads: int | None) -> None:
    """Every repeat of every strategy (a finished one read back from disk), the report after each repeat."""
    from search.comparison._report import grid_targets, summary_rows, write_report
    from search.comparison._resume import load_finished

    c = plan.comparison
    fit_dir = c.report_dir / "fits"
    fit_dir.mkdir(parents=True, exist_ok=True)
    pool_started = False
    for repeat in range(plan.repeats):
        for strategy in c.strategies:
            run = load_finished(c.report_dir, strategy, repeat, plan.key(strategy, repeat))
            if run is None:
                if not pool_started:
                    _start_pool(c.workers, threads)
                    pool_started = True
                run = _fit_one(plan, strategy, repeat, fit_dir / f"{strategy}-r{repeat}.jsonl")
            else:
                run.note = (run.note + "; " if run.note else "") + "resumed: read from an earlier compare"
            c.runs.append(run)
            mlflow_run.log_strategy(run, target=grid_targets(c.runs).get(repeat),
                                    fit_log=str(fit_dir / f"{strategy}-r{repeat}.jsonl"))
        # the report so far after every repeat: a long comparison stopped early still leaves one
        c.files = write_report(c.runs, ctx, c.report_dir)
        c.summary = summary_rows(c.runs)


def _fit_one(plan: _Plan, strategy: str, repeat: int, log: Path) -> Any:
    """Run one strategy for one repeat, from a fresh fit log; saved for a later resume once finished."""
    from search.comparison._resume import save_finished
    from search.comparison._strategies import StrategyRun, run_grid, run_proposer

    c, study = plan.comparison, plan.study
    seed = plan.base_seed + repeat
    log.unlink(missing_ok=True)
    run_setup = replace(plan.setup, estimator=plan.estimator(seed), log_path=str(log))
    run = StrategyRun(strategy, repeat, seed, study.direction)
    stop = _watch(log, _planned(strategy, c.budget, c.grid_fits, c.folds, plan.epochs), strategy, repeat,
                  plan.progress, folds=c.folds, scoring=plan.scoring)
    try:
        if strategy == "grid":
            run_grid(run_setup, study.space, study.spec.grid.points, run)
        else:
            run_proposer(run_setup, study.space, c.budget, run)
    finally:
        stop()
    save_finished(c.report_dir, run, plan.key(strategy, repeat))
    return run


class _sigterm_as_interrupt:
    """Ctrl-C and SIGTERM raise KeyboardInterrupt in the main thread while a comparison runs.

    Both also set :data:`search.comparison._evaluate.INTERRUPTED`: an interrupt that lands inside
    a TensorFlow op comes back wrapped in a TensorFlow error, which a fit would otherwise
    score as a failed fit (NaN) and carry on.
    """

    def __enter__(self) -> None:
        import signal

        from search.comparison._evaluate import INTERRUPTED

        INTERRUPTED.clear()
        self._saved: dict[int, Any] = {}
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                self._saved[signum] = signal.signal(signum, self._raise)

    @staticmethod
    def _raise(signum: int, frame: Any) -> None:
        from search.comparison._evaluate import INTERRUPTED

        INTERRUPTED.set()
        if frame is not None and (frame.f_code.co_name == "__del__" or frame.f_code.co_filename.endswith("weakref.py")):
            return  # raised in a garbage-collector callback it would be printed and lost; the next fit stops
        raise KeyboardInterrupt(f"signal {signum}")

    def __exit__(self, *exc: Any) -> None:
        import signal

        for signum, handler in self._saved.items():
            signal.signal(signum, handler)


def _stop_pool() -> None:
    """Kill joblib's worker processes now (an interrupted notebook cell must leave none behind)."""
    try:
        from joblib.externals.loky import reusable_executor

        executor = getattr(reusable_executor, "_executor", None)  # None when no pool was started
        if executor is not None:
            executor.shutdown(wait=False, kill_workers=True)
    except Exception:  # noqa: BLE001, S110 - nothing started, or already gone
        pass
