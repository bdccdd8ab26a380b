"""The study file's schema: small pydantic models, one per section.

Unknown keys are errors (``extra="forbid"``) and numbers are strict (``"0.2"`` is
not a number). The ``space`` section is parsed by :mod:`spaces`; ``fixed`` values
join it as fixed parameters.
"""

from __future__ import annotations

import math
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from search.data.catalog import CATALOG
from spaces import SearchSpace, SpecError, did_you_mean

Engine = Literal["optuna", "keras_tuner", "grid"]
Algorithm = Literal["tpe", "random", "gp", "cmaes", "qmc", "grid", "bayesian", "hyperband"]
Pruner = Literal["median", "successive_halving", "hyperband", "none"]
Task = Literal["classification", "binary", "regression"]
FirstTrial = Literal["middle", "sampled"]

ENGINE_ALGORITHMS: dict[str, tuple[str, ...]] = {
    "optuna": ("tpe", "random", "gp", "cmaes", "qmc", "grid"),
    "keras_tuner": ("random", "bayesian", "hyperband"),
    "grid": ("grid",),
}
_DURATION = re.compile(r"^\s*(?:(\d+(?:\.\d+)?)\s*h)?\s*(?:(\d+(?:\.\d+)?)\s*m)?\s*(?:(\d+(?:\.\d+)?)\s*s)?\s*$")


def parse_duration(value: int | float | str | None) -> float | None:
    """Seconds from ``90``, ``"90s"``, ``"20m"``, ``"1h30m"``; ``None`` stays ``None``."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError(f"must be a duration like 90, '90s', '20m' or '1h30m', but got {value!r}")
    if isinstance(value, str) and value.strip().replace(".", "", 1).isdigit():
        value = float(value)  # "90" means 90 seconds, as the message promises
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        match = _DURATION.match(value)
        if not match or not any(match.groups()):
            raise ValueError(f"must be a duration like 90, '90s', '20m' or '1h30m', but got {value!r}")
        h, m, s = (float(g) if g else 0.0 for g in match.groups())
        seconds = h * 3600 + m * 60 + s
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"must be a positive, finite duration, but got {value!r}")
    return seconds


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class CsvSource(_Section):
    """``{csv: path, target: column}``; ``features`` picks columns (default: all others)."""

    csv: str
    target: str
    features: list[str] | None = None


class NpzSource(_Section):
    """``{npz: path}``: arrays ``x`` and ``y`` (names configurable), loaded without pickle."""

    npz: str
    x: str = "x"
    y: str = "y"


class Folds(_Section):
    """``validation: {folds: k}``: k-fold cross-validation on the training split."""

    folds: int = Field(ge=2, le=20)


class DataSpec(_Section):
    """Where the data comes from and how it is split."""

    dataset: str | CsvSource | NpzSource = "digits"
    validation: float | Folds = 0.2
    test: float = Field(default=0.2, ge=0.0, lt=1.0)
    seed: int = 42

    @field_validator("dataset", mode="before")
    @classmethod
    def _pick_source(cls, value: Any) -> Any:
        if isinstance(value, dict):
            if "csv" in value:
                return CsvSource.model_validate(value)
            if "npz" in value:
                return NpzSource.model_validate(value)
            raise SpecError(
                f"a file dataset needs a `csv` or `npz` key, but got keys {sorted(value)}",
                hint="e.g. dataset: {csv: data/houses.csv, target: price}",
            )
        if isinstance(value, str) and value not in CATALOG:
            raise SpecError(
                f"unknown dataset {value!r}; known: {', '.join(CATALOG)}",
                hint=did_you_mean(value, CATALOG) or "or give a file: {csv: path, target: column} / {npz: path}",
            )
        return value

    @field_validator("validation")
    @classmethod
    def _fraction(cls, value: float | Folds) -> float | Folds:
        if isinstance(value, float) and not 0.0 < value < 1.0:
            raise SpecError(f"a validation fraction must lie in (0, 1), but got {value}", hint="or use {folds: 3}")
        return value


class ModelBuilder(_Section):
    """``model: {builder: "package.module:function"}``: a user's own model function."""

    builder: str

    @field_validator("builder")
    @classmethod
    def _dotted(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*", value):
            raise SpecError(f"must look like 'package.module:function', but got {value!r}")
        return value


class ObjectiveSpec(_Section):
    """What to optimise; the direction is inferred from the metric's name when absent."""

    metric: str | None = None
    direction: Literal["maximize", "minimize"] | None = None


class SearchSection(_Section):
    """How to search: engine, algorithm, pruner, budget and parallelism."""

    engine: Engine = "optuna"
    algorithm: Algorithm | None = None
    pruner: Pruner | None = None  # median for optuna; none for keras_tuner and grid (they cannot prune)
    trials: int = Field(default=20, ge=1, le=100_000)
    timeout: float | None = None
    workers: int = Field(default=1, ge=1, le=256)
    seed: int | None = None
    first_trial: FirstTrial | None = None  # middle for Optuna's samplers; sampled for grids and Keras Tuner

    @field_validator("timeout", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> float | None:
        try:
            return parse_duration(value)
        except ValueError as exc:
            raise SpecError(str(exc)) from None

    @model_validator(mode="after")
    def _algorithm_fits_engine(self) -> SearchSection:
        allowed = ENGINE_ALGORITHMS[self.engine]
        if self.algorithm is None:
            object.__setattr__(self, "algorithm", allowed[0])
        elif self.algorithm not in allowed:
            raise SpecError(
                f"the {self.engine} engine runs {', '.join(allowed)}, but got algorithm {self.algorithm!r}",
                path=("algorithm",),
                hint="pick one of those or change the engine",
            )
        if self.pruner is None:
            object.__setattr__(self, "pruner", "median" if self.engine == "optuna" else "none")
        elif self.engine != "optuna" and self.pruner != "none":
            raise SpecError(
                f"the {self.engine} engine cannot use pruner {self.pruner!r}: only Optuna trials are "
                f"stopped by a pruner ({'Keras Tuner oracles ignore it, so nothing would ever be pruned' if self.engine == 'keras_tuner' else 'GridSearchCV fits every config to the end'})",
                path=("pruner",),
                hint="remove `pruner` (or write pruner: none); for early stopping of weak trials with Keras "
                     "Tuner use algorithm: hyperband, or use engine: optuna",
            )
        return self

    @model_validator(mode="after")
    def _first_trial_fits_algorithm(self) -> SearchSection:
        samples = self.engine == "optuna" and self.algorithm != "grid"
        if self.first_trial is None:
            object.__setattr__(self, "first_trial", "middle" if samples else "sampled")
        elif self.first_trial == "middle" and not samples:
            raise SpecError(
                f"the {self.engine}/{self.algorithm} search cannot start from the space's middle: "
                + ("a grid visits its points in order" if self.algorithm == "grid"
                   else "Keras Tuner's oracles choose every trial themselves"),
                path=("first_trial",),
                hint="remove `first_trial` (or write first_trial: sampled), or use engine: optuna",
            )
        return self


class GridSection(_Section):
    """How continuous ranges become a finite grid for GridSearchCV."""

    points: int = Field(default=3, ge=2, le=100)


class ResourcesSpec(_Section):
    """Devices: ``gpus: auto | none | [0, 2]`` and how many trials share one GPU."""

    gpus: Literal["auto", "none"] | list[int] = "auto"
    trials_per_gpu: int = Field(default=1, ge=1, le=64)
    ray: str | None = None  # a Ray cluster address (auto, HOST:PORT, ray://HOST:10001, local): workers as actors


class TrackingSpec(_Section):
    """MLflow experiment name (default: the study name) and tracking URI."""

    experiment: str | None = None
    uri: str | None = None


class ExportSpec(_Section):
    """Where the best model goes (default: ``models/<study name>``) and which rows retrain it.

    ``refit: train+validation`` (the default, like ``GridSearchCV(refit=True)``) retrains the
    best config on every non-test row for the epochs its trial needed; ``refit: train``
    retrains it on the trial's own training rows (the trial's model, reproduced).
    """

    dir: str | None = None
    refit: Literal["train+validation", "train"] = "train+validation"


class StudySpec(BaseModel):
    """A whole study file, validated. ``space`` includes the ``fixed`` values."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, arbitrary_types_allowed=True)

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
    description: str = ""
    data: DataSpec = DataSpec()
    task: Task | None = None
    model: Literal["mlp", "wide_deep"] | ModelBuilder = "mlp"
    space: SearchSpace
    fixed: dict[str, str | int | float | bool] = {}
    objective: ObjectiveSpec = ObjectiveSpec()
    search: SearchSection = SearchSection()
    grid: GridSection = GridSection()
    resources: ResourcesSpec = ResourcesSpec()
    tracking: TrackingSpec = TrackingSpec()
    export: ExportSpec = ExportSpec()

    @field_validator("space", mode="before")
    @classmethod
    def _space(cls, value: Any) -> SearchSpace:
        if isinstance(value, SearchSpace):
            return value
        return SearchSpace.from_dict(value)

    @field_validator("model", mode="before")
    @classmethod
    def _model(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return ModelBuilder.model_validate(value)
        return value

    def to_dict(self) -> dict[str, Any]:
        """Plain data that ``StudySpec.model_validate`` reads back to an equal spec."""
        out = self.model_dump(mode="python", exclude={"space"})
        out["space"] = self.space.to_dict()
        return out
