"""Spec -> Optuna distribution and spec -> grid, table-driven, endpoints checked for both.

The Keras Tuner compiler imports TensorFlow and lives in test_spaces_keras_tuner.py.
"""

from __future__ import annotations

import json

import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from sklearn.model_selection import ParameterGrid

import spaces
from spaces import Bool, Categorical, Fixed, Float, Int, SearchSpace

# --- spec -> Optuna distribution -------------------------------------------------------

OPTUNA_CASES = [
    # (id, param, distribution class, expected attributes)
    ("int_linear", Int("x", 1, 10), IntDistribution, dict(low=1, high=10, step=1, log=False)),
    ("int_log", Int("x", 16, 512, log=True), IntDistribution, dict(low=16, high=512, step=1, log=True)),
    ("int_step", Int("x", 0, 100, step=10), IntDistribution, dict(low=0, high=100, step=10, log=False)),
    ("int_log_step_1", Int("x", 1, 64, log=True, step=1), IntDistribution, dict(low=1, high=64, step=1, log=True)),
    ("int_single", Int("x", 3, 3), IntDistribution, dict(low=3, high=3, step=1, log=False)),
    ("float_linear", Float("x", 0.0, 1.0), FloatDistribution, dict(low=0.0, high=1.0, step=None, log=False)),
    ("float_log", Float("x", 1e-4, 1e-1, log=True), FloatDistribution, dict(low=1e-4, high=1e-1, step=None, log=True)),
    ("float_step", Float("x", 0.0, 0.9, step=0.1), FloatDistribution, dict(low=0.0, high=0.9, step=0.1, log=False)),
    ("float_step_quarter", Float("x", 0.5, 1.5, step=0.25), FloatDistribution,
     dict(low=0.5, high=1.5, step=0.25, log=False)),
    # grid: and points: only shape the grid; samplers see the whole range
    ("int_grid", Int("x", 1, 9, grid=[1, 5, 9]), IntDistribution, dict(low=1, high=9, step=1, log=False)),
    ("float_points", Float("x", 1e-4, 1.0, log=True, points=5), FloatDistribution,
     dict(low=1e-4, high=1.0, step=None, log=True)),
    ("cat_str", Categorical("x", ["relu", "tanh"]), CategoricalDistribution, dict(choices=("relu", "tanh"))),
    ("cat_int", Categorical("x", [16, 32, 64]), CategoricalDistribution, dict(choices=(16, 32, 64))),
    ("cat_float", Categorical("x", [0.1, 0.5]), CategoricalDistribution, dict(choices=(0.1, 0.5))),
    ("cat_int_float", Categorical("x", [1, 2.5]), CategoricalDistribution, dict(choices=(1.0, 2.5))),
    ("cat_bool", Categorical("x", [True, False]), CategoricalDistribution, dict(choices=(True, False))),
    ("bool", Bool("x"), CategoricalDistribution, dict(choices=(False, True))),
]


@pytest.mark.parametrize(("param", "cls", "attrs"), [c[1:] for c in OPTUNA_CASES], ids=[c[0] for c in OPTUNA_CASES])
def test_optuna_distribution(param, cls, attrs):
    dist = spaces.optuna_distribution(param)
    assert type(dist) is cls
    for name, expected in attrs.items():
        actual = getattr(dist, name)
        assert actual == expected, name
        if name == "choices":  # 16 == 16.0 == True would hide a type change
            assert [type(c) for c in actual] == [type(c) for c in expected]
        elif expected is not None and name in ("low", "high"):
            assert type(actual) is type(expected), name
    # Optuna's low and high are inclusive, and it would have moved high silently had the
    # step not divided the range: equal endpoints mean equal domains
    if cls is not CategoricalDistribution:
        assert (dist.low, dist.high) == (param.low, param.high)


def test_optuna_fixed_has_no_distribution():
    assert spaces.optuna_distribution(Fixed("epochs", 20)) is None


def test_optuna_distribution_refuses_unknown_kinds():
    with pytest.raises(TypeError, match="no Optuna distribution"):
        spaces.optuna_distribution(object())  # type: ignore[arg-type]


# --- spec -> grid values -----------------------------------------------------------------

GRID_CASES = [
    # (id, param, points, expected values in order)
    ("int_linear", Int("x", 0, 10), 3, [0, 5, 10]),
    ("int_linear_5", Int("x", 1, 9), 5, [1, 3, 5, 7, 9]),
    ("int_more_points_than_values", Int("x", 1, 3), 7, [1, 2, 3]),
    ("int_log", Int("x", 16, 512, log=True), 6, [16, 32, 64, 128, 256, 512]),
    ("int_log_step_1", Int("x", 1, 64, log=True, step=1), 7, [1, 2, 4, 8, 16, 32, 64]),
    ("int_log_3", Int("x", 1, 10000, log=True), 3, [1, 100, 10000]),
    ("int_step", Int("x", 0, 100, step=20), 6, [0, 20, 40, 60, 80, 100]),
    ("int_step_snaps", Int("x", 0, 90, step=30), 10, [0, 30, 60, 90]),
    ("int_single", Int("x", 3, 3), 3, [3]),
    ("float_linear", Float("x", 0.0, 1.0), 5, [0.0, 0.25, 0.5, 0.75, 1.0]),
    ("float_linear_3", Float("x", -1.0, 1.0), 3, [-1.0, 0.0, 1.0]),
    # stepped floats are low + k * step as Optuna computes them (0.1 * 3 == 0.30000000000000004),
    # high exactly
    ("float_step", Float("x", 0.0, 0.9, step=0.1), 4, [0.0, 0.1 * 3, 0.1 * 6, 0.9]),
    ("float_step_all", Float("x", 0.0, 0.9, step=0.1), 10, [0.1 * k for k in range(9)] + [0.9]),
    ("float_step_top_rounds_up", Float("x", 0.0, 0.7, step=0.1), 8, [0.1 * k for k in range(7)] + [0.7]),
    ("float_step_snaps", Float("x", 0.0, 1.0, step=0.5), 5, [0.0, 0.5, 1.0]),
    ("float_single", Float("x", 0.5, 0.5), 3, [0.5]),
    ("int_grid", Int("x", 1, 9, grid=[9, 1, 5]), 3, [9, 1, 5]),
    ("float_grid", Float("x", 0.0, 1.0, grid=[0.0, 0.1, 1.0]), 7, [0.0, 0.1, 1.0]),
    ("points_overrides", Float("x", 0.0, 1.0, points=5), 3, [0.0, 0.25, 0.5, 0.75, 1.0]),
    ("cat_str", Categorical("x", ["relu", "tanh", "elu"]), 2, ["relu", "tanh", "elu"]),
    ("cat_int", Categorical("x", [16, 32, 64]), 3, [16, 32, 64]),
    ("cat_float", Categorical("x", [0.1, 0.5]), 3, [0.1, 0.5]),
    ("cat_bool", Categorical("x", [True, False]), 3, [True, False]),
    ("bool", Bool("x"), 3, [False, True]),
    ("fixed", Fixed("x", 20), 3, [20]),
]


@pytest.mark.parametrize(("param", "points", "expected"), [c[1:] for c in GRID_CASES], ids=[c[0] for c in GRID_CASES])
def test_grid_values(param, points, expected):
    values = spaces.grid_values(param, points)
    assert values == expected
    assert [type(v) for v in values] == [type(v) for v in expected]
    for value in values:
        assert param.contains(value), value
    if isinstance(param, (Int, Float)) and param.grid is None:  # both endpoints, exactly
        assert values[0] == param.low
        assert values[-1] == param.high


@pytest.mark.parametrize(
    ("param", "points", "ratio"),
    [
        (Float("x", 1e-4, 1.0, log=True), 5, 10.0),
        (Float("x", 1e-6, 1e-2, log=True), 9, 10.0**0.5),
        (Float("x", 2.0, 2.0**10, log=True), 10, 2.0),
        (Float("x", 1e-3, 1e-1, log=True, points=3), 8, 10.0),
    ],
)
def test_log_grid_is_geometric_with_exact_endpoints(param, points, ratio):
    values = spaces.grid_values(param, points)
    assert len(values) == (param.points or points)
    assert values[0] == param.low  # exact, not low * exp(0)
    assert values[-1] == param.high  # exact, not low * exp(log(high / low))
    for a, b in zip(values, values[1:]):
        assert b / a == pytest.approx(ratio, rel=1e-9)


@pytest.mark.parametrize(
    "param",
    [Float("x", 0.0, 0.9, step=0.1), Float("x", 0.0, 0.7, step=0.1), Float("x", 0.1, 1.3, step=0.3),
     Int("x", 0, 100, step=10), Int("x", 1, 8)],
    ids=repr,
)
def test_stepped_values_are_the_same_in_optuna_and_the_grid(param):
    """A grid point must be a value Optuna itself gives, or grid and sampled trials never meet."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    suggest = spaces.to_optuna(SearchSpace(param))
    sampled = set()
    for _ in range(400):
        trial = study.ask()
        sampled.add(suggest(trial)["x"])
        study.tell(trial, 0.0)
    n = round((param.high - param.low) / (param.step or 1)) + 1
    assert sampled == set(spaces.grid_values(param, n))
    assert len(sampled) == n


def test_linear_grid_is_evenly_spaced():
    values = spaces.grid_values(Float("x", 0.1, 0.7), 7)
    assert values[0] == 0.1 and values[-1] == 0.7
    gaps = [b - a for a, b in zip(values, values[1:])]
    assert gaps == pytest.approx([0.1] * 6, rel=1e-9)


@pytest.mark.parametrize("points", [1, 0, -3, 2.5, True])
def test_grid_points_must_be_at_least_two(points):
    with pytest.raises(spaces.SpecError, match=">= 2"):
        spaces.grid_values(Float("x", 0.0, 1.0), points)


# --- to_param_grid, grid_size, iter_grid ----------------------------------------------------


def mlp_space() -> SearchSpace:
    return SearchSpace(
        Int("n_layers", 1, 3),
        Int("units", 16, 64, log=True, per_layer="n_layers"),
        Categorical("activation", ["relu", "tanh"]),
        Categorical("optimizer", ["adam", "sgd", "rmsprop"]),
        Float("momentum", 0.0, 0.9, when={"optimizer": "sgd"}),
        Categorical("batch_size", [32, 64]),
        Fixed("epochs", 5),
    )


def chain_space() -> SearchSpace:
    """n_layers may be 0, and nesterov depends on momentum, which depends on optimizer."""
    return SearchSpace(
        Int("n_layers", 0, 2),
        Int("units", 16, 64, log=True, per_layer="n_layers"),
        Float("dropout", 0.0, 0.5, step=0.1, per_layer="n_layers", grid=[0.0, 0.5]),
        Categorical("optimizer", ["adam", "sgd", "rmsprop"]),
        Float("momentum", 0.0, 0.9, when={"optimizer": "sgd"}),
        Bool("nesterov", when={"momentum": 0.9}),
        Float("learning_rate", 1e-3, 1e-1, log=True),
        Fixed("epochs", 5),
    )


def test_param_grid_keys_are_prefixed_and_per_layer_params_share_one_key():
    grids = spaces.to_param_grid(mlp_space(), unprefixed=["epochs"])
    keys = set().union(*grids)
    assert keys == {
        "model__n_layers", "model__units", "model__activation", "model__optimizer",
        "model__momentum", "model__batch_size", "epochs",
    }
    for grid in grids:
        assert grid["model__units"] == [16, 32, 64]
        assert grid["model__n_layers"] == [1, 2, 3]
        assert grid["epochs"] == [5]
        assert not any(k.startswith("model__units_") for k in grid)


def test_param_grid_prefix_is_configurable():
    grids = spaces.to_param_grid(mlp_space(), prefix="clf__", unprefixed=("epochs", "batch_size"))
    keys = set().union(*grids)
    assert "clf__units" in keys and "batch_size" in keys and "epochs" in keys
    assert "clf__batch_size" not in keys and "model__units" not in keys


def test_when_parameters_split_the_grid():
    grids = spaces.to_param_grid(mlp_space())
    with_momentum = [g for g in grids if "model__momentum" in g]
    without = [g for g in grids if "model__momentum" not in g]
    assert [g["model__optimizer"] for g in with_momentum] == [["sgd"]]
    assert with_momentum[0]["model__momentum"] == [0.0, 0.45, 0.9]
    assert len(without) == 1
    assert sorted(without[0]["model__optimizer"]) == ["adam", "rmsprop"]


def test_when_chain_gives_nested_sub_grids():
    grids = spaces.to_param_grid(chain_space())
    for grid in grids:
        if "model__nesterov" in grid:
            assert grid["model__optimizer"] == ["sgd"]
            assert grid["model__momentum"] == [0.9]
        if "model__momentum" in grid:
            assert grid["model__optimizer"] == ["sgd"]
        # a layer count of 0 comes without per-layer parameters (they do not exist)
        if "model__units" in grid or "model__dropout" in grid:
            assert 0 not in grid["model__n_layers"]
    assert any(g["model__n_layers"] == [0] and "model__units" not in g for g in grids)
    assert any("model__nesterov" in g for g in grids)
    assert any("model__momentum" in g and "model__nesterov" not in g for g in grids)


@pytest.mark.parametrize("make_space", [mlp_space, chain_space])
@pytest.mark.parametrize("points", [2, 3, 4])
def test_grid_size_iter_grid_and_sklearn_agree(make_space, points):
    space = make_space()
    param_grid = spaces.to_param_grid(space, points=points)
    configs = list(spaces.iter_grid(space, points))
    size = spaces.grid_size(space, points)
    assert size == len(configs) == len(ParameterGrid(param_grid))
    # no duplicates: an inactive parameter never multiplies the grid
    assert len({json.dumps(c, sort_keys=True) for c in configs}) == len(configs)
    # every grid point is a valid config of the space
    for config in configs:
        assert space.check_config(config) == [], config
    # and sklearn walks exactly the same points once per-layer values are copied to each layer
    from_sklearn = {
        json.dumps(space.expand_shared({k.removeprefix("model__"): v for k, v in point.items()}), sort_keys=True)
        for point in ParameterGrid(param_grid)
    }
    assert from_sklearn == {json.dumps(c, sort_keys=True) for c in configs}


def test_grid_size_by_hand():
    # n_layers 3 x units 3 x activation 2 x batch_size 2 x (adam + rmsprop + sgd x 3 momenta)
    assert spaces.grid_size(mlp_space()) == 3 * 3 * 2 * 2 * (2 + 3)
    # n_layers: 0 -> 1 point, 1 and 2 -> units 3 x dropout 2 (its grid);
    # optimizer: adam, rmsprop, sgd with momentum 0 / 0.45, sgd with momentum 0.9 x nesterov 2;
    # learning_rate 3 points
    layers = 1 + 2 * 3 * 2
    optimizers = 2 + 2 + 1 * 2
    assert spaces.grid_size(chain_space()) == layers * optimizers * 3
    # points=2: n_layers [0, 2], units 2, momentum [0, 0.9], learning_rate 2
    assert spaces.grid_size(chain_space(), points=2) == (1 + 1 * 2 * 2) * (2 + 1 + 1 * 2) * 2


def test_iter_grid_copies_the_shared_value_to_every_layer():
    configs = list(spaces.iter_grid(mlp_space()))
    three = [c for c in configs if c["n_layers"] == 3]
    assert three
    for config in three:
        assert config["units_0"] == config["units_1"] == config["units_2"]
        assert "units" not in config


def test_sub_grids_are_unprefixed():
    grids = spaces.sub_grids(mlp_space())
    assert all(not k.startswith("model__") for g in grids for k in g)
