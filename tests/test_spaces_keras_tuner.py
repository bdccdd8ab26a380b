"""Spec -> Keras Tuner hyperparameter, and 1,000 configs drawn through the Keras Tuner compiler.

Keras Tuner imports TensorFlow, so every test that needs it lives in this one module.
"""

from __future__ import annotations

from typing import Any

import keras_tuner  # a dependency of tuneforge: missing it is a failure, not a skip
import pytest
from test_spaces_sampling import N_SAMPLES, SAMPLING_SPACE, SEED, check_samples

import spaces
from spaces import Bool, Categorical, Fixed, Float, Int, SearchSpace

TOP = 1 - 1e-12  # Keras Tuner maps a probability in [0, 1) onto the range

KT_CASES = [
    # (id, param, KT class, attributes of the registered object, every value it yields or None)
    ("int_linear", Int("x", 1, 10), "Int", dict(min_value=1, max_value=10, step=1, sampling="linear"),
     list(range(1, 11))),
    ("int_log", Int("x", 16, 512, log=True), "Int", dict(min_value=16, max_value=512, step=None, sampling="log"),
     None),
    ("int_step", Int("x", 0, 100, step=10), "Int", dict(min_value=0, max_value=100, step=10, sampling="linear"),
     list(range(0, 101, 10))),
    # KT reads step as a multiplier under log sampling and refuses step=1: declared without it
    ("int_log_step_1", Int("x", 1, 64, log=True, step=1), "Int",
     dict(min_value=1, max_value=64, step=None, sampling="log"), None),
    ("int_grid", Int("x", 1, 9, grid=[1, 5, 9]), "Int", dict(min_value=1, max_value=9, step=1, sampling="linear"),
     list(range(1, 10))),
    ("float_linear", Float("x", 0.0, 1.0), "Float", dict(min_value=0.0, max_value=1.0, step=None, sampling="linear"),
     None),
    ("float_log", Float("x", 1e-4, 1e-1, log=True), "Float",
     dict(min_value=1e-4, max_value=1e-1, step=None, sampling="log"), None),
    ("float_points", Float("x", 1e-4, 1.0, log=True, points=5), "Float",
     dict(min_value=1e-4, max_value=1.0, step=None, sampling="log"), None),
    # 0.9 // 0.1 == 8.0 in floating point: KT alone would never yield 0.9. Stepped floats are
    # low + k * step as Optuna computes them, high exactly (0.1 * 7 is above 0.7).
    ("float_step", Float("x", 0.0, 0.9, step=0.1), "Float", dict(min_value=0.0, step=0.1, sampling="linear"),
     [0.1 * k for k in range(9)] + [0.9]),
    ("float_step_quarter", Float("x", 0.5, 1.5, step=0.25), "Float", dict(min_value=0.5, step=0.25),
     [0.5, 0.75, 1.0, 1.25, 1.5]),
    ("float_step_0_7", Float("x", 0.0, 0.7, step=0.1), "Float", dict(min_value=0.0, step=0.1),
     [0.1 * k for k in range(7)] + [0.7]),
    ("cat_str", Categorical("x", ["relu", "tanh"]), "Choice", dict(values=["relu", "tanh"]), ["relu", "tanh"]),
    ("cat_int", Categorical("x", [16, 32, 64]), "Choice", dict(values=[16, 32, 64]), [16, 32, 64]),
    ("cat_float", Categorical("x", [0.1, 0.5]), "Choice", dict(values=[0.1, 0.5]), [0.1, 0.5]),
    # KT stores booleans in a Choice as 1 and 0; the compiler gives booleans back
    ("cat_bool", Categorical("x", [True, False]), "Choice", dict(values=[1, 0]), [False, True]),
    ("bool", Bool("x"), "Boolean", dict(default=False), [False, True]),
    ("fixed_int", Fixed("x", 20), "Fixed", dict(value=20), [20]),
    ("fixed_str", Fixed("x", "adam"), "Fixed", dict(value="adam"), ["adam"]),
]


def kt_candidates(registered: Any) -> list[Any]:
    """Every value Keras Tuner can pick for a finite hyperparameter, else its two extremes."""
    if type(registered).__name__ in ("Int", "Float") and registered.step is None:
        return [registered.prob_to_value(0.0), registered.prob_to_value(TOP)]
    if type(registered).__name__ == "Boolean":
        return [False, True]
    if type(registered).__name__ == "Fixed":
        return [registered.value]
    return list(registered.values)


@pytest.mark.parametrize(
    ("param", "cls", "attrs", "yields"), [c[1:] for c in KT_CASES], ids=[c[0] for c in KT_CASES]
)
def test_keras_tuner_hyperparameter(param, cls, attrs, yields):
    hp = keras_tuner.HyperParameters()
    default = spaces.declare_keras_tuner(hp, param, "x")
    assert param.contains(default), default
    assert len(hp.space) == 1
    registered = hp.space[0]
    assert type(registered).__name__ == cls
    assert registered.name == "x"
    for name, expected in attrs.items():
        actual = getattr(registered, name)
        assert actual == expected, name
        if name in ("min_value", "max_value"):
            assert type(actual) is type(expected), name

    # what the compiler returns for each value KT can pick: in the domain, endpoints included
    returned = []
    for candidate in kt_candidates(registered):
        hp.values["x"] = candidate
        returned.append(spaces.declare_keras_tuner(hp, param, "x"))
    for value in returned:
        assert param.contains(value), value
    if yields is not None:
        assert sorted(returned) == yields
        assert [type(v) for v in sorted(returned)] == [type(v) for v in yields]
    if isinstance(param, (Int, Float)):
        assert min(returned) == param.low
        if isinstance(param, Int) or param.step is not None:
            assert max(returned) == param.high  # exactly, high is inclusive
        else:
            assert max(returned) == pytest.approx(param.high, rel=1e-9)  # continuous: as close as KT gets


def conditional_space() -> SearchSpace:
    return SearchSpace(
        Int("n_layers", 0, 3),
        Int("units", 16, 64, per_layer="n_layers"),
        Categorical("optimizer", ["adam", "sgd"]),
        Float("momentum", 0.0, 0.7, step=0.1, when={"optimizer": "sgd"}),
        Bool("nesterov", when={"momentum": [0.3, 0.7]}),
        Fixed("epochs", 3),
    )


def test_keras_tuner_registers_every_layer_copy_and_condition():
    hp = keras_tuner.HyperParameters()
    config = spaces.to_keras_tuner(conditional_space())(hp)
    assert config == {"n_layers": 0, "optimizer": "adam", "epochs": 3}  # KT's defaults: the lows
    conditions = {h.name: [(c.name, list(c.values)) for c in h.conditions] for h in hp.space}
    assert set(conditions) == {"n_layers", "units_0", "units_1", "units_2", "optimizer", "momentum", "nesterov",
                               "epochs"}
    assert conditions["units_0"] == [("n_layers", [1, 2, 3])]
    assert conditions["units_1"] == [("n_layers", [2, 3])]
    assert conditions["units_2"] == [("n_layers", [3])]
    assert conditions["momentum"] == [("optimizer", ["sgd"])]
    # the chain: nesterov repeats its parent's condition (KT does not inherit them)
    (first, second) = conditions["nesterov"]
    assert first == ("optimizer", ["sgd"])
    assert second[0] == "momentum"
    assert second[1] == pytest.approx([0.3, 0.7])
    assert conditions["n_layers"] == conditions["optimizer"] == conditions["epochs"] == []


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"n_layers": 2, "units_0": 16, "units_1": 64, "optimizer": "adam"},
         {"n_layers": 2, "units_0": 16, "units_1": 64, "optimizer": "adam", "epochs": 3}),
        ({"n_layers": 0, "optimizer": "sgd", "momentum": 0.7000000000000001, "nesterov": True},
         {"n_layers": 0, "optimizer": "sgd", "momentum": 0.7, "nesterov": True, "epochs": 3}),
        ({"n_layers": 0, "optimizer": "sgd", "momentum": 0.1 * 3, "nesterov": False},
         {"n_layers": 0, "optimizer": "sgd", "momentum": 0.1 * 3, "nesterov": False, "epochs": 3}),
        ({"n_layers": 0, "optimizer": "sgd", "momentum": 0.2},
         {"n_layers": 0, "optimizer": "sgd", "momentum": 0.2, "epochs": 3}),
    ],
)
def test_keras_tuner_build_returns_the_active_config(values, expected):
    """Values as KT's oracle holds them (low + k * step, unclipped) give the config Optuna would give."""
    space = conditional_space()
    build = spaces.to_keras_tuner(space)
    hp = keras_tuner.HyperParameters()
    build(hp)
    trial_hp = hp.copy()
    trial_hp.values = dict(values, epochs=3)
    config = build(trial_hp)
    assert config == expected
    assert space.check_config(config) == []


def sample_keras_tuner(space: SearchSpace, n: int, seed: int) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(config, KT's values) for n random draws of KT's RandomSearchOracle, as a tuner does them."""
    build = spaces.to_keras_tuner(space)
    hp = keras_tuner.HyperParameters()
    build(hp)  # registers the space
    oracle = keras_tuner.oracles.RandomSearchOracle(max_trials=n, seed=seed, hyperparameters=hp)
    out = []
    for i in range(n):
        drawn = oracle.populate_space(f"trial_{i}")
        assert drawn["status"] == "RUNNING"
        trial_hp = hp.copy()  # what Oracle.create_trial does with the drawn values
        trial_hp.values = drawn["values"]
        out.append((build(trial_hp), dict(drawn["values"])))
    return out


@pytest.fixture(scope="module")
def keras_tuner_samples():
    return sample_keras_tuner(SAMPLING_SPACE, N_SAMPLES, SEED)


def test_keras_tuner_samples_cover_the_space(keras_tuner_samples):
    check_samples(SAMPLING_SPACE, [config for config, _ in keras_tuner_samples])


def test_keras_tuner_draws_exactly_the_parameters_of_each_config(keras_tuner_samples):
    """KT's conditions agree with the space: it never draws a value the config leaves out."""
    for config, drawn in keras_tuner_samples:
        assert set(drawn) == set(config)


def test_keras_tuner_sampling_is_reproducible():
    first = [c for c, _ in sample_keras_tuner(SAMPLING_SPACE, 30, seed=5)]
    again = [c for c, _ in sample_keras_tuner(SAMPLING_SPACE, 30, seed=5)]
    other = [c for c, _ in sample_keras_tuner(SAMPLING_SPACE, 30, seed=6)]
    assert first == again
    assert first != other
