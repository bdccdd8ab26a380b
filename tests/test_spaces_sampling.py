"""1,000 configs through the Optuna compiler: in the domain, log-spread, the right names exist.

``SAMPLING_SPACE`` and ``check_samples`` are shared with test_spaces_keras_tuner.py, which
runs the same checks on 1,000 configs drawn through the Keras Tuner compiler.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import optuna
import pytest
from optuna.samplers import RandomSampler

import spaces
from spaces import Bool, Categorical, Fixed, Float, Int, SearchSpace

N_SAMPLES = 1000
SEED = 20240601

SAMPLING_SPACE = SearchSpace(
    Int("n_layers", 0, 3),  # 0 layers: no per-layer parameter at all
    Int("units", 16, 512, log=True, per_layer="n_layers"),
    Float("dropout", 0.0, 0.5, step=0.1, per_layer="n_layers"),
    Categorical("activation", ["relu", "tanh", "elu"]),
    Float("learning_rate", 1e-4, 1e-1, log=True),
    Float("l2", 0.0, 1e-2),
    Int("filters", 1, 64, log=True, step=1),
    Int("patience", 0, 10, step=5),
    Int("epochs", 1, 3),
    Categorical("batch_size", [16, 32, 64]),
    Categorical("label_smoothing", [0.0, 0.1]),
    Bool("batch_norm"),
    Categorical("optimizer", ["adam", "sgd", "rmsprop"]),
    # a when-chain: nesterov needs momentum, which needs optimizer == sgd. 0.3 is not
    # 3 * 0.1 in floating point and 0.7 is the (inclusive) top of the stepped range.
    Float("momentum", 0.0, 0.7, step=0.1, when={"optimizer": "sgd"}),
    Categorical("nesterov", [True, False], when={"momentum": [0.3, 0.7]}),
    Fixed("seed", 7),
)

LOG_PARAMS = ("units_0", "learning_rate")


def log_position(values: Sequence[float], low: float, high: float) -> float:
    """Where the median sits between low (0) and high (1) on a log scale; 0.5 is log-uniform."""
    return math.log(statistics.median(values) / low) / math.log(high / low)


def check_samples(space: SearchSpace, configs: Sequence[Mapping[str, Any]]) -> None:
    """Every property 1,000 random configs of SAMPLING_SPACE must have, whatever the engine."""
    assert len(configs) == N_SAMPLES
    for config in configs:
        assert space.check_config(config) == [], config
        n = config["n_layers"]
        # per-layer copies exist exactly for i < n_layers
        assert {k for k in config if k.startswith("units_")} == {f"units_{i}" for i in range(n)}
        assert {k for k in config if k.startswith("dropout_")} == {f"dropout_{i}" for i in range(n)}
        # when parameters exist exactly when their condition holds, through the chain
        assert ("momentum" in config) == (config["optimizer"] == "sgd")
        assert ("nesterov" in config) == any(math.isclose(config.get("momentum", -1), m) for m in (0.3, 0.7))
        assert config["seed"] == 7
        # the domain, checked here without check_config's own code
        assert all(16 <= config[f"units_{i}"] <= 512 and type(config[f"units_{i}"]) is int for i in range(n))
        assert 1e-4 <= config["learning_rate"] <= 1e-1
        assert 0.0 <= config["l2"] <= 1e-2
        assert type(config["batch_norm"]) is bool
        assert type(config.get("nesterov", False)) is bool

    def seen(name: str) -> Counter:
        return Counter(c[name] for c in configs if name in c)

    # every value of the small ranges and every choice is reached, both endpoints included
    assert set(seen("n_layers")) == {0, 1, 2, 3}
    assert set(seen("epochs")) == {1, 2, 3}
    assert set(seen("patience")) == {0, 5, 10}
    assert set(seen("activation")) == {"relu", "tanh", "elu"}
    assert set(seen("batch_size")) == {16, 32, 64}
    assert set(seen("label_smoothing")) == {0.0, 0.1}
    assert set(seen("batch_norm")) == {False, True}
    assert set(seen("optimizer")) == {"adam", "sgd", "rmsprop"}
    assert set(seen("nesterov")) == {False, True}
    # stepped floats: every step, low + k * step as Optuna computes it, high exactly (0.1 * 7 is
    # 0.7000000000000001, above high: it must come out as 0.7)
    assert sorted(seen("momentum")) == [0.1 * k for k in range(7)] + [0.7]
    assert sorted(seen("dropout_0")) == [0.1 * k for k in range(6)]
    # the conditions really vary: each branch of the chain is taken many times
    assert sum(1 for c in configs if "nesterov" in c) > 20
    assert sum(1 for c in configs if "momentum" in c and "nesterov" not in c) > 100
    assert sum(1 for c in configs if c["n_layers"] == 0) > 100
    # log parameters spread evenly in log space: the median sits near the geometric mean
    # of low and high (0.5 on the log scale; a linear sampler puts it near 0.8 for units
    # and 0.9 for learning_rate). With 1,000 samples the standard error of this position
    # is about 0.02, so +-0.1 cannot flake.
    units = [c["units_0"] for c in configs if "units_0" in c]
    assert len(units) > 600
    assert log_position(units, 16, 512) == pytest.approx(0.5, abs=0.1)
    assert log_position([c["learning_rate"] for c in configs], 1e-4, 1e-1) == pytest.approx(0.5, abs=0.1)
    # and a linear parameter is not log-spread: its median is near the middle
    assert statistics.median(c["l2"] for c in configs) == pytest.approx(5e-3, abs=1e-3)


def sample_optuna(space: SearchSpace, n: int, seed: int) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(config, trial.params) for n trials of an in-memory study with a seeded RandomSampler."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=RandomSampler(seed=seed))
    suggest = spaces.to_optuna(space)
    out = []
    for _ in range(n):
        trial = study.ask()
        config = suggest(trial)
        study.tell(trial, 0.0)
        out.append((config, dict(trial.params)))
    return out


@pytest.fixture(scope="module")
def optuna_samples():
    return sample_optuna(SAMPLING_SPACE, N_SAMPLES, SEED)


def test_optuna_samples_cover_the_space(optuna_samples):
    check_samples(SAMPLING_SPACE, [config for config, _ in optuna_samples])


def test_optuna_sees_exactly_the_parameters_of_each_config(optuna_samples):
    fixed = {p.name for p in SAMPLING_SPACE if isinstance(p, Fixed)}
    for config, params in optuna_samples:
        # what Optuna stores is exactly the config: engines compare trial.params with configs
        assert params == {k: v for k, v in config.items() if k not in fixed}
        assert all(type(params[k]) is type(config[k]) for k in params)


def test_optuna_sampling_is_reproducible():
    first = sample_optuna(SAMPLING_SPACE, 50, seed=3)
    again = sample_optuna(SAMPLING_SPACE, 50, seed=3)
    other = sample_optuna(SAMPLING_SPACE, 50, seed=4)
    assert first == again
    assert first != other


def test_optuna_suggests_conditional_parameters_define_by_run():
    """The compiler asks the trial only for parameters that exist (never a dummy value)."""
    space = SearchSpace(
        Categorical("optimizer", ["adam", "sgd"]),
        Float("momentum", 0.0, 0.9, when={"optimizer": "sgd"}),
        Int("n_layers", 0, 3),
        Int("units", 1, 4, per_layer="n_layers"),
        Fixed("epochs", 3),
    )
    suggest = spaces.to_optuna(space)
    # a FixedTrial raises when asked for a parameter it was not given
    trial = optuna.trial.FixedTrial({"optimizer": "adam", "n_layers": 0})
    assert suggest(trial) == {"optimizer": "adam", "n_layers": 0, "epochs": 3}
    trial = optuna.trial.FixedTrial({"optimizer": "sgd", "momentum": 0.5, "n_layers": 2, "units_0": 1, "units_1": 4})
    assert suggest(trial) == {
        "optimizer": "sgd", "momentum": 0.5, "n_layers": 2, "units_0": 1, "units_1": 4, "epochs": 3,
    }
    with pytest.raises(ValueError):  # units_1 is needed for two layers
        suggest(optuna.trial.FixedTrial({"optimizer": "adam", "n_layers": 2, "units_0": 1}))
