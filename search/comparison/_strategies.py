"""The strategies: GridSearchCV itself, Optuna samplers, Keras Tuner oracles.

``grid`` is scikit-learn's real ``GridSearchCV(refit=True)`` over the study's scikeras
estimator with the ``model__``-prefixed grid from :mod:`spaces`. Every other strategy
proposes configs from the study's declared space (its ranges, not the grid's points),
scores them with :func:`search.comparison._evaluate.evaluate_configs` and stops at the
budget; its best config is then refit on the whole pool and scored on the test rows,
exactly as GridSearchCV's refit is.

Optuna strategies run on an in-memory storage with the samplers ``tuneforge run``
uses; Keras Tuner strategies drive the oracles directly (no Tuner), the space declared
by :func:`spaces.to_keras_tuner`. ``kt-hyperband`` trains its configs for the epochs
the oracle asks (``tuner/epochs``), from scratch.
"""

from __future__ import annotations

import math
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from search.comparison._budget import Budget
from search.comparison._evaluate import (
    Evaluation,
    Setup,
    config_key,
    evaluate_configs,
    log_events,
    refit_and_test,
    score_on_test,
)
from search.comparison._names import OPTUNA
from spaces import SearchSpace
MAX_DUPLICATES = 200  # proposals in a row already scored: the strategy has nothing new to offer


@dataclass
class Point:
    """The state after one fit ended: totals so far and the best value so far (None before any)."""

    fits: int
    epochs: int
    seconds: float
    best: float | None


@dataclass
class StrategyRun:
    """One strategy, one repeat: what it scored, its timeline, its best config and test score."""

    strategy: str
    repeat: int
    seed: int
    direction: str
    evaluations: list[Evaluation] = field(default_factory=list)
    timeline: list[Point] = field(default_factory=list)
    best: Evaluation | None = None
    test_value: float = math.nan
    search_seconds: float = 0.0
    refit_seconds: float = 0.0
    note: str = ""

    @property
    def fits(self) -> int:
        return self.timeline[-1].fits if self.timeline else 0

    @property
    def epochs(self) -> int:
        return self.timeline[-1].epochs if self.timeline else 0

    @property
    def total_seconds(self) -> float:
        return self.search_seconds + self.refit_seconds

    def reached(self, target: float | None) -> Point | None:
        """The first point whose best-so-far is at least as good as ``target`` (None: never)."""
        if target is None or math.isnan(target):
            return None
        for p in self.timeline:
            if p.best is not None and (p.best >= target if self.direction == "maximize" else p.best <= target):
                return p
        return None


def _better(a: float, b: float | None, direction: str) -> bool:
    if math.isnan(a):
        return False
    return b is None or (a > b if direction == "maximize" else a < b)


def best_of(evaluations: list[Evaluation], direction: str) -> Evaluation | None:
    """The best evaluation (the first one on ties, as GridSearchCV's rank 1)."""
    best: Evaluation | None = None
    for e in evaluations:
        if _better(e.value, best.value if best else None, direction):
            best = e
    return best


def timeline(events: list[dict[str, Any]], values: dict[str, float], *, folds: int, started: float,
             direction: str) -> list[Point]:
    """Best-so-far after every fit: a config counts once all its ``folds`` fits have ended."""
    done: dict[str, int] = {}
    points: list[Point] = []
    best: float | None = None
    epochs = 0
    for i, event in enumerate(events, start=1):
        key = event["key"]
        done[key] = done.get(key, 0) + 1
        epochs += int(event.get("epochs", 0))
        if done[key] == folds and key in values and _better(values[key], best, direction):
            best = values[key]
        points.append(Point(i, epochs, float(event["end"]) - started, best))
    return points


# --- grid ----------------------------------------------------------------------------------

def run_grid(setup: Setup, space: SearchSpace, points: int, run: StrategyRun) -> StrategyRun:
    """scikit-learn's GridSearchCV over the whole grid, ``refit=True``, ``n_jobs`` = workers."""
    from sklearn.model_selection import GridSearchCV

    from search.comparison._estimator import config_from_params
    from spaces import to_param_grid

    search = GridSearchCV(setup.estimator, to_param_grid(space, points=points), cv=setup.cv(),
                          scoring=setup.scorer(), n_jobs=setup.workers, refit=True, error_score=np.nan)
    started = time.time()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        search.fit(setup.x, setup.y)
    total = time.time() - started
    results = search.cv_results_
    events = log_events(setup.log_path) if setup.log_path else []
    ends: dict[str, float] = {}
    for e in events:
        ends[e["key"]] = max(ends.get(e["key"], 0.0), e["end"])
    for i, params in enumerate(results["params"]):
        config = config_from_params(space, {**setup.estimator.get_params(), **params})
        folds = [float(results[f"split{j}_test_score"][i]) for j in range(setup.folds)]
        score = float(results["mean_test_score"][i])
        key = config_key(config)
        run.evaluations.append(Evaluation(config, score, setup.scoring.value(score), folds, ends.get(key, started),
                                          int(config.get("epochs", 0)) * setup.folds))
    run.evaluations.sort(key=lambda e: e.end)
    values = {config_key(e.config): e.value for e in run.evaluations}
    run.timeline = timeline(events, values, folds=setup.folds, started=started, direction=setup.scoring.direction)
    run.best = best_of(run.evaluations, setup.scoring.direction)
    chosen = config_from_params(space, {**setup.estimator.get_params(), **search.best_params_})
    if run.best is not None and config_key(run.best.config) != config_key(chosen):  # equal scores: follow sklearn
        run.best = next(e for e in run.evaluations if config_key(e.config) == config_key(chosen))
    run.refit_seconds = float(getattr(search, "refit_time_", 0.0))
    run.search_seconds = total - run.refit_seconds
    run.test_value = score_on_test(setup, search.best_estimator_)
    return run


# --- proposers -----------------------------------------------------------------------------

@dataclass
class Proposal:
    config: dict[str, Any]
    handle: Any


class _OptunaProposer:
    """ask/tell on an in-memory Optuna study with the sampler ``tuneforge run`` uses."""

    def __init__(self, algorithm: str, space: SearchSpace, direction: str, seed: int, parallel: bool,
                 startup: int | None) -> None:
        import optuna

        from search.engines.optuna import make_sampler
        from spaces import to_optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # TPE's `group` is "experimental"
            s = optuna.samplers
            if algorithm == "tpe" and startup is not None:  # the engine's TPE, with a startup the budget allows
                sampler = s.TPESampler(seed=seed, multivariate=True, group=True, constant_liar=parallel,
                                       n_startup_trials=startup)
            elif algorithm == "gp" and startup is not None:
                make_sampler("gp", seed=seed, parallel=parallel)  # its PyTorch check
                # per-layer widths exist only for some layer counts: GP samples them at random (it says so per trial)
                sampler = s.GPSampler(seed=seed, n_startup_trials=startup, warn_independent_sampling=False)
            else:
                sampler = make_sampler(algorithm, seed=seed, parallel=parallel)
        self.study = optuna.create_study(direction=direction, sampler=sampler)
        self.suggest = to_optuna(space)

    def ask(self) -> Proposal | None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            trial = self.study.ask()
            return Proposal(self.suggest(trial), trial)

    def tell(self, proposal: Proposal, value: float | None) -> None:
        import optuna

        if value is None or math.isnan(value):
            self.study.tell(proposal.handle, state=optuna.trial.TrialState.FAIL)
        else:
            self.study.tell(proposal.handle, value)


class _KerasTunerProposer:
    """A Keras Tuner oracle driven directly: create_trial / update_trial / end_trial."""

    def __init__(self, algorithm: str, space: SearchSpace, direction: str, seed: int, epochs: int,
                 workdir: str, startup: int | None) -> None:
        import keras_tuner as kt

        from spaces import to_keras_tuner

        self.build = to_keras_tuner(space)
        hp = kt.HyperParameters()
        self.build(hp)
        objective = kt.Objective("score", "max" if direction == "maximize" else "min")
        common = dict(objective=objective, seed=seed, hyperparameters=hp, max_consecutive_failed_trials=10**9)
        if algorithm == "kt-hyperband":
            self.oracle = kt.oracles.HyperbandOracle(max_epochs=max(1, epochs), factor=3, hyperband_iterations=None,
                                                     **common)
        else:
            self.oracle = kt.oracles.BayesianOptimizationOracle(max_trials=10**6, num_initial_points=startup,
                                                                 **common)
        self.oracle._set_project_dir(workdir, "oracle")  # noqa: SLF001 - where the oracle saves its state
        self.oracle.verbose = 0  # no per-trial tables on stdout
        self.hyperband = algorithm == "kt-hyperband"
        self._next = 0

    def ask(self) -> Proposal | None:
        self._next += 1
        trial = self.oracle.create_trial(f"tuner{self._next}")
        if trial.status != "RUNNING":
            return None  # STOPPED (space exhausted) or IDLE (waiting for the trials running now)
        config = self.build(trial.hyperparameters.copy())
        if self.hyperband:
            config["epochs"] = int(trial.hyperparameters.values["tuner/epochs"])
        return Proposal(config, trial)

    def tell(self, proposal: Proposal, value: float | None) -> None:
        trial = proposal.handle
        if value is None or math.isnan(value):
            trial.status = "FAILED"
        else:
            self.oracle.update_trial(trial.trial_id, {"score": float(value)})
            trial.status = "COMPLETED"
        self.oracle.end_trial(trial)


# --- the budgeted search loop ----------------------------------------------------------------

def startup_trials(budget: Budget, *, folds: int, epochs: int) -> int | None:
    """Random configs a model-based strategy starts with: a third of the configs the budget buys (2 to 10).

    The libraries' defaults (TPE and GP: 10, KT's Bayesian: 3 per parameter) would leave a
    small budget, such as a 2x2x2 grid's 8 configs, all random: TPE would be random search.
    None (the library default) for a wall-clock budget, whose config count is unknown.
    """
    if budget.unit == "time":
        return None
    per_config = folds if budget.unit == "fits" else folds * max(1, epochs)
    configs = int(budget.amount) // per_config
    return max(2, min(10, configs // 3))



@dataclass
class _Spend:
    """What a strategy has spent and seen so far, and the next batch of new configs within its budget."""

    budget: Budget
    folds: int
    epochs_default: int
    started: float = field(default_factory=time.time)
    fits: int = 0
    epochs: int = 0
    seen: dict[str, float] = field(default_factory=dict)
    duplicates: int = 0
    note: str = ""

    def batch(self, proposer: Any, size: int) -> tuple[list[Proposal], list[Proposal], bool]:
        """Up to ``size`` new configs, the repeats of them (told later) and whether the search must stop.

        A config scored before is told its score at once and costs nothing; ``MAX_DUPLICATES``
        of them in a row end the search, as does a proposal the budget cannot pay for.
        """
        batch: list[Proposal] = []
        waiting: list[Proposal] = []
        fits, epochs = self.fits, self.epochs
        while len(batch) < size:
            proposal = proposer.ask()
            if proposal is None:
                if not batch and not waiting:
                    self.note = "the strategy stopped proposing (space exhausted)"
                    return batch, waiting, True
                return batch, waiting, False
            key = config_key(proposal.config)
            if key in self.seen:
                proposer.tell(proposal, self.seen[key])
                self.duplicates += 1
                if self.duplicates >= MAX_DUPLICATES:
                    self.note = f"stopped after {MAX_DUPLICATES} proposals in a row that were already scored"
                    return batch, waiting, True
                continue
            if any(config_key(p.config) == key for p in batch):
                waiting.append(proposal)
                continue
            self.duplicates = 0
            cost_epochs = self.folds * int(proposal.config.get("epochs", self.epochs_default))
            if not self.budget.affords(fits=fits, epochs=epochs, seconds=time.time() - self.started,
                                       cost_fits=self.folds, cost_epochs=cost_epochs):
                proposer.tell(proposal, None)
                return batch, waiting, True
            batch.append(proposal)
            fits, epochs = fits + self.folds, epochs + cost_epochs
        return batch, waiting, False

    def record(self, proposer: Any, batch: list[Proposal], waiting: list[Proposal],
               results: list[Evaluation]) -> None:
        """Tell the proposer every score (repeats too) and add the fits and epochs spent."""
        for p, ev in zip(batch, results):
            self.seen[config_key(p.config)] = ev.value
            proposer.tell(p, ev.value)
            self.fits += self.folds
            self.epochs += self.folds * int(p.config.get("epochs", self.epochs_default))
        for p in waiting:
            proposer.tell(p, self.seen.get(config_key(p.config)))


def _proposer(run: StrategyRun, setup: Setup, space: SearchSpace, *, epochs: int, startup: int | None,
              workdir: str) -> Any:
    direction = setup.scoring.direction
    if run.strategy in OPTUNA:
        return _OptunaProposer(run.strategy, space, direction, run.seed, parallel=setup.workers > 1, startup=startup)
    return _KerasTunerProposer(run.strategy, space, direction, run.seed, epochs, workdir, startup)


def run_proposer(setup: Setup, space: SearchSpace, budget: Budget, run: StrategyRun) -> StrategyRun:
    """Ask up to ``workers`` new configs, score them together, tell, until the budget is spent.

    Then refit the best config on the whole pool and score it on the test rows.
    """
    direction = setup.scoring.direction
    epochs = int(next((p.value for p in space if p.name == "epochs" and hasattr(p, "value")), 20))
    if run.strategy == "kt-hyperband" and budget.unit == "fits":
        # most of Hyperband's fits are short: it gets the epochs the grid's fits cost, not more training
        budget = Budget("epochs", budget.amount * epochs)
    startup = startup_trials(budget, folds=setup.folds, epochs=epochs)
    with tempfile.TemporaryDirectory(prefix="tuneforge-oracle-") as workdir:
        proposer = _proposer(run, setup, space, epochs=epochs, startup=startup, workdir=workdir)
        spend = _Spend(budget, setup.folds, epochs)
        stop = False
        while not stop:
            batch, waiting, stop = spend.batch(proposer, setup.workers)
            results = evaluate_configs(setup, [p.config for p in batch]) if batch else []
            run.evaluations.extend(results)
            spend.record(proposer, batch, waiting, results)
            stop = stop or not batch
        run.search_seconds = time.time() - spend.started
    run.note = spend.note
    values = {config_key(e.config): e.value for e in run.evaluations}
    events = log_events(setup.log_path) if setup.log_path else []
    run.timeline = timeline(events, values, folds=setup.folds, started=spend.started, direction=direction)
    run.best = best_of(run.evaluations, direction)
    if run.best is not None:
        t = time.time()
        _, run.test_value = refit_and_test(setup, run.best.config)
        run.refit_seconds = time.time() - t
    return run
