"""The parameter kinds and SearchSpace: domains, checks at build time, configs, round trips."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

import spaces
from spaces import Bool, Categorical, Fixed, Float, Int, SearchSpace, SpecError

SUBPROCESS_TIMEOUT = 60


def rich_space() -> SearchSpace:
    """Every kind and option at least once, per-layer parameters and a two-step when-chain."""
    return SearchSpace(
        Int("n_layers", 0, 3),
        Int("units", 16, 512, log=True, per_layer="n_layers", points=4),
        Float("dropout", 0.0, 0.5, step=0.1, per_layer="n_layers"),
        Int("filters", 8, 64, step=8, grid=[8, 32, 64]),
        Float("learning_rate", 1e-4, 1e-1, log=True),
        Float("l2", 0.0, 1e-2, points=5),
        Categorical("activation", ["relu", "tanh"]),
        Categorical("batch_size", [16, 32, 64]),
        Categorical("label_smoothing", [0.0, 0.1]),
        Categorical("shuffle", [True, False]),
        Bool("batch_norm"),
        Categorical("optimizer", ["adam", "sgd"]),
        Float("momentum", 0.0, 0.9, when={"optimizer": "sgd"}),
        Bool("nesterov", when={"momentum": [0.0, 0.9], "optimizer": "sgd"}),
        Fixed("epochs", 20),
        Fixed("run_name", "baseline"),
    )


# --- domains: inclusive endpoints, types, steps ---------------------------------------

DOMAIN_CASES = [
    # (param, inside, outside)
    (Int("x", 1, 10), [1, 2, 10, 5.0], [0, 11, 2.5, True, "3", None]),
    (Int("x", 16, 512, log=True), [16, 17, 512], [15, 513, 0]),
    (Int("x", 0, 100, step=10), [0, 10, 100], [5, 95, 110, -10]),
    (Float("x", 0.0, 1.0), [0.0, 0.5, 1.0, 1], [-1e-9, 1.0000001, float("nan"), False, "0.5"]),
    (Float("x", 1e-4, 1e-1, log=True), [1e-4, 1e-2, 1e-1], [0.0, 9.9e-5, 0.2]),
    (Float("x", 0.0, 0.9, step=0.1), [0.0, 0.3, 0.1 * 3, 0.9], [0.05, 0.95, 0.91]),
    (Categorical("x", ["relu", "tanh"]), ["relu", "tanh"], ["elu", 1, None]),
    (Categorical("x", [16, 32]), [16, 32], [16.0, "16", 24, True]),
    (Categorical("x", [0.1, 0.5]), [0.1, 0.5], [0.2, "0.1"]),
    (Categorical("x", [True, False]), [True, False], [1, 0, "true"]),
    (Bool("x"), [True, False], [1, 0, "false", None]),
    (Fixed("x", 5), [5], [5.5, 6, "5", True]),
    (Fixed("x", "adam"), ["adam"], ["sgd"]),
]


@pytest.mark.parametrize(("param", "inside", "outside"), DOMAIN_CASES, ids=lambda v: repr(v)[:40])
def test_domain_is_inclusive_and_typed(param, inside, outside):
    for value in inside:
        assert param.contains(value), value
    for value in outside:
        assert not param.contains(value), value


def test_int_and_float_normalize_their_numbers():
    assert Int("x", 1.0, 3.0) == Int("x", 1, 3)
    assert type(Int("x", 1.0, 3.0).low) is int
    f = Float("x", 0, 1)
    assert (type(f.low), type(f.high)) == (float, float)
    # int and float choices mix into floats; anything else must be of one type
    assert Categorical("x", [1, 2.5]).choices == (1.0, 2.5)
    assert all(type(c) is float for c in Categorical("x", [1, 2.5]).choices)


# --- checks when a parameter is built (the Python API) ------------------------------

BUILD_ERRORS = [
    ("low_gt_high", lambda: Int("units", 512, 16), ("units", "low"), "`low <= high`"),
    ("float_low_gt_high", lambda: Float("lr", 0.1, 0.01), ("lr", "low"), "`low <= high`"),
    ("log_low_zero", lambda: Float("lr", 0.0, 0.1, log=True), ("lr", "low"), "low > 0"),
    ("log_low_negative", lambda: Int("units", -4, 16, log=True), ("units", "low"), "low > 0"),
    ("step_with_log", lambda: Float("lr", 1e-4, 1e-1, log=True, step=0.1), ("lr", "step"), "cannot be combined"),
    ("int_step_2_with_log", lambda: Int("units", 16, 512, log=True, step=2), ("units", "step"), "cannot be combined"),
    ("step_not_dividing", lambda: Float("m", 0.0, 0.9, step=0.4), ("m", "step"), "multiple of step"),
    ("int_step_not_dividing", lambda: Int("u", 0, 10, step=3), ("u", "step"), "multiple of step"),
    ("step_zero", lambda: Int("u", 0, 10, step=0), ("u", "step"), "> 0"),
    ("float_step_on_int", lambda: Int("u", 0, 10, step=2.5), ("u", "step"), "whole number"),
    ("string_low", lambda: Float("lr", "1e-4", 0.1), ("lr", "low"), "must be a number"),
    ("bool_low", lambda: Int("u", True, 3), ("u", "low"), "whole number"),
    ("nan_high", lambda: Float("lr", 0.0, float("nan")), ("lr", "high"), "must be a number"),
    ("inf_high", lambda: Float("lr", 0.0, float("inf")), ("lr", "high"), "must be a number"),
    ("fractional_int", lambda: Int("u", 1.5, 3), ("u", "low"), "whole number"),
    ("points_0", lambda: Float("d", 0.0, 0.5, points=0), ("d", "points"), ">= 2"),
    ("points_1", lambda: Float("d", 0.0, 0.5, points=1), ("d", "points"), ">= 2"),
    ("points_float", lambda: Float("d", 0.0, 0.5, points=3.0), ("d", "points"), ">= 2"),
    ("grid_outside", lambda: Int("u", 1, 3, grid=[1, 5]), ("u", "grid", 1), "must lie in"),
    ("grid_off_step", lambda: Int("u", 0, 10, step=5, grid=[0, 3]), ("u", "grid", 1), "must lie in"),
    ("grid_empty", lambda: Int("u", 1, 3, grid=[]), ("u", "grid"), "non-empty"),
    ("grid_duplicates", lambda: Int("u", 1, 3, grid=[1, 1]), ("u", "grid"), "distinct"),
    ("empty_choices", lambda: Categorical("opt", []), ("opt", "choices"), "at least one"),
    ("string_choices", lambda: Categorical("opt", "adam"), ("opt", "choices"), "wrapped in a list"),
    ("mixed_choices", lambda: Categorical("bs", [16, "32"]), ("bs", "choices"), "one type"),
    ("bool_int_choices", lambda: Categorical("bs", [True, 2]), ("bs", "choices"), "one type"),
    ("duplicate_choices", lambda: Categorical("bs", [16, 16]), ("bs", "choices"), "distinct"),
    ("nested_choice", lambda: Categorical("bs", [[16]]), ("bs", "choices", 0), "strings, numbers"),
    ("fixed_per_layer", lambda: Fixed("e", 3, per_layer="n"), ("e", "per_layer"), "cannot be per-layer"),
    ("fixed_list", lambda: Fixed("e", [3]), ("e", "value"), "string, number or boolean"),
    ("bad_name", lambda: Int("2fast", 1, 3), ("2fast",), "identifiers"),
    ("when_self", lambda: Int("u", 1, 3, when={"u": 1}), ("u", "when", "u"), "itself"),
    ("when_empty_values", lambda: Int("u", 1, 3, when={"n": []}), ("u", "when", "n"), "at least one value"),
    ("when_not_mapping", lambda: Int("u", 1, 3, when="n"), ("u", "when"), "must map"),
]


@pytest.mark.parametrize(("build", "path", "words"), [c[1:] for c in BUILD_ERRORS], ids=[c[0] for c in BUILD_ERRORS])
def test_bad_parameter_is_refused_with_its_field(build, path, words):
    with pytest.raises(SpecError) as info:
        build()
    assert info.value.path == path
    assert words in str(info.value)
    assert isinstance(info.value, ValueError)  # SpecError subclasses the builtin


SPACE_ERRORS = [
    (
        "per_layer_unknown",
        [Int("n_layers", 1, 3), Int("units", 16, 64, per_layer="n_layer")],
        ("units", "per_layer"),
        "did you mean 'n_layers'?",
    ),
    (
        "per_layer_categorical",
        [Categorical("n_layers", [1, 2]), Int("units", 16, 64, per_layer="n_layers")],
        ("units", "per_layer"),
        "is categorical",
    ),
    (
        "per_layer_float",
        [Float("n_layers", 1, 3), Int("units", 16, 64, per_layer="n_layers")],
        ("units", "per_layer"),
        "is float",
    ),
    (
        "per_layer_log_int",
        [Int("n_layers", 1, 8, log=True), Int("units", 16, 64, per_layer="n_layers")],
        ("units", "per_layer"),
        "(log)",
    ),
    (
        "per_layer_negative_count",
        [Int("n_layers", -1, 3), Int("units", 16, 64, per_layer="n_layers")],
        ("units", "per_layer"),
        "non-negative",
    ),
    (
        "per_layer_count_is_per_layer",
        [Int("blocks", 1, 2), Int("n_layers", 1, 3, per_layer="blocks"), Int("units", 1, 4, per_layer="n_layers")],
        ("units", "per_layer"),
        "itself per-layer",
    ),
    (
        "layer_copy_clash",
        [Int("n_layers", 1, 3), Int("units", 16, 64, per_layer="n_layers"), Int("units_2", 1, 2)],
        ("units", "per_layer"),
        "'units_2' clashes",
    ),
    (
        "when_unknown",
        [Categorical("optimizer", ["adam", "sgd"]), Float("momentum", 0, 1, when={"optimiser": "sgd"})],
        ("momentum", "when", "optimiser"),
        "did you mean 'optimizer'?",
    ),
    (
        "when_impossible_value",
        [Categorical("optimizer", ["adam", "sgd"]), Float("momentum", 0, 1, when={"optimizer": "sdg"})],
        ("momentum", "when", "optimizer"),
        "'sdg' is not a value",
    ),
    (
        "when_on_per_layer",
        [Int("n_layers", 1, 3), Int("units", 16, 64, per_layer="n_layers"), Bool("bn", when={"units": 16})],
        ("bn", "when", "units"),
        "per-layer",
    ),
    (
        "when_cycle",
        [Categorical("a", ["x", "y"], when={"b": "u"}), Categorical("b", ["u", "v"], when={"a": "x"})],
        ("a", "when"),
        "a -> b -> a",
    ),
    (
        "when_cycle_through_three",
        [
            Categorical("a", ["x", "y"], when={"c": 1}),
            Categorical("b", ["u", "v"], when={"a": "x"}),
            Categorical("c", [1, 2], when={"b": "u"}),
        ],
        ("a", "when"),
        "a -> c -> b -> a",
    ),
    ("declared_twice", [Int("n", 1, 3), Int("n", 1, 4)], ("n",), "declared twice"),
]


@pytest.mark.parametrize(("params", "path", "words"), [c[1:] for c in SPACE_ERRORS], ids=[c[0] for c in SPACE_ERRORS])
def test_bad_space_is_refused_with_its_field(params, path, words):
    with pytest.raises(SpecError) as info:
        SearchSpace(*params)
    assert info.value.path == path
    assert words in str(info.value)


def test_huge_layer_count_is_checked_without_enumerating_layers():
    # _check_references used to loop over range(high) looking for clashes: 10**9 layers hung.
    code = textwrap.dedent(
        """
        import spaces
        s = spaces.SearchSpace(spaces.Int("n_layers", 1, 10**9),
                               spaces.Int("units", 1, 4, per_layer="n_layers"))
        try:
            spaces.SearchSpace(spaces.Int("n_layers", 1, 10**9),
                               spaces.Int("units", 1, 4, per_layer="n_layers"),
                               spaces.Int("units_999999999", 1, 2))
        except spaces.SpecError as exc:
            print("clash:", exc)
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=SUBPROCESS_TIMEOUT
    )
    assert proc.returncode == 0, proc.stderr
    assert "clash: units.per_layer: layer copy 'units_999999999' clashes" in proc.stdout


def test_parameters_are_frozen_and_hashable():
    p = Int("units", 16, 512)
    with pytest.raises(AttributeError):
        p.low = 0  # type: ignore[misc]
    assert len({Int("units", 16, 512), Int("units", 16, 512), Int("units", 16, 256)}) == 2
    assert hash(rich_space()) == hash(rich_space())


# --- which parameters exist in a config ----------------------------------------------


def test_ordered_puts_parents_before_children():
    space = SearchSpace(
        Bool("nesterov", when={"momentum": 0.9}),
        Float("momentum", 0.0, 0.9, step=0.9, when={"optimizer": "sgd"}),
        Int("units", 1, 4, per_layer="n_layers"),
        Categorical("optimizer", ["adam", "sgd"]),
        Int("n_layers", 0, 2),
    )
    order = [p.name for p in space.ordered]
    assert order.index("optimizer") < order.index("momentum") < order.index("nesterov")
    assert order.index("n_layers") < order.index("units")
    assert space.names == ("nesterov", "momentum", "units", "optimizer", "n_layers")  # declaration order


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"n_layers": 0, "optimizer": "adam"}, {"n_layers", "optimizer", "epochs"}),
        ({"n_layers": 2, "optimizer": "adam"}, {"n_layers", "units_0", "units_1", "optimizer", "epochs"}),
        ({"n_layers": 1, "optimizer": "sgd", "momentum": 0.5},
         {"n_layers", "units_0", "optimizer", "momentum", "epochs"}),
        ({"n_layers": 1, "optimizer": "sgd", "momentum": 0.9},
         {"n_layers", "units_0", "optimizer", "momentum", "nesterov", "epochs"}),
    ],
)
def test_expected_names_follow_counts_and_conditions(values, expected):
    space = SearchSpace(
        Int("n_layers", 0, 3),
        Int("units", 16, 64, per_layer="n_layers"),
        Categorical("optimizer", ["adam", "sgd"]),
        Float("momentum", 0.0, 0.9, when={"optimizer": "sgd"}),
        Bool("nesterov", when={"momentum": 0.9}),
        Fixed("epochs", 3),
    )
    assert space.expected_names(values) == expected


def test_when_on_a_stepped_float_matches_the_value_samplers_give():
    space = SearchSpace(
        Float("momentum", 0.0, 0.7, step=0.1),
        Bool("nesterov", when={"momentum": [0.3, 0.7]}),
    )
    assert 0.1 * 3 != 0.3  # what Optuna and Keras Tuner give for k = 3
    assert space.expected_names({"momentum": 0.1 * 3}) == {"momentum", "nesterov"}
    assert space.expected_names({"momentum": 0.7}) == {"momentum", "nesterov"}
    assert space.expected_names({"momentum": 0.1 * 4}) == {"momentum"}
    assert space.expected_names({"momentum": 0.0}) == {"momentum"}


CHECK_SPACE = SearchSpace(
    Int("n_layers", 0, 3),
    Int("units", 16, 64, per_layer="n_layers"),
    Categorical("optimizer", ["adam", "sgd"]),
    Float("momentum", 0.0, 0.9, when={"optimizer": "sgd"}),
    Fixed("epochs", 3),
)


@pytest.mark.parametrize(
    ("config", "problems"),
    [
        ({"n_layers": 2, "units_0": 16, "units_1": 64, "optimizer": "adam", "epochs": 3}, []),
        ({"n_layers": 0, "optimizer": "sgd", "momentum": 0.0, "epochs": 3}, []),
        ({"n_layers": 2, "units_0": 16, "optimizer": "adam", "epochs": 3}, ["units_1 is missing"]),
        ({"n_layers": 1, "units_0": 16, "units_1": 16, "optimizer": "adam", "epochs": 3},
         ["units_1 should not exist"]),
        ({"n_layers": 0, "optimizer": "adam", "momentum": 0.5, "epochs": 3}, ["momentum should not exist"]),
        ({"n_layers": 0, "optimizer": "sgd", "epochs": 3}, ["momentum is missing"]),
        ({"n_layers": 1, "units_0": 65, "optimizer": "adam", "epochs": 3}, ["units_0=65 is outside its domain"]),
        ({"n_layers": 0, "optimizer": "adam", "epochs": 4}, ["epochs=4 is outside its domain"]),
        ({"n_layers": 0, "optimizer": "adam", "epochs": 3, "seed": 1}, ["seed should not exist"]),
        # a missing or broken layer count is reported, not a crash (int(None) used to raise)
        ({"optimizer": "adam", "epochs": 3}, ["n_layers is missing"]),
        ({"n_layers": "two", "optimizer": "adam", "epochs": 3}, ["n_layers='two' is outside its domain"]),
        ({"n_layers": None, "optimizer": "adam", "epochs": 3}, ["n_layers=None is outside its domain"]),
    ],
)
def test_check_config_reports_every_problem(config, problems):
    assert CHECK_SPACE.check_config(config) == problems


def test_param_of_maps_layer_copies_to_their_parameter():
    assert CHECK_SPACE.param_of("units_2") is CHECK_SPACE["units"]
    assert CHECK_SPACE.param_of("momentum") is CHECK_SPACE["momentum"]
    with pytest.raises(KeyError):
        CHECK_SPACE.param_of("optimizer_1")


# --- the file form and round trips ---------------------------------------------------


def test_to_dict_round_trips_a_rich_space():
    space = rich_space()
    data = space.to_dict()
    assert SearchSpace.from_dict(data) == space
    # the file form is plain data: JSON can hold it, and it survives JSON too
    assert SearchSpace.from_dict(json.loads(json.dumps(data))) == space
    assert list(data) == list(space.names)


def test_equality_sees_every_field():
    data = rich_space().to_dict()
    data["momentum"]["high"] = 0.95
    assert SearchSpace.from_dict(data) != rich_space()
    data = rich_space().to_dict()
    data["nesterov"]["when"]["momentum"] = [0.9]
    assert SearchSpace.from_dict(data) != rich_space()


def test_to_dict_writes_the_documented_form():
    data = rich_space().to_dict()
    assert data["n_layers"] == {"type": "int", "low": 0, "high": 3}
    assert data["units"] == {"type": "int", "low": 16, "high": 512, "log": True, "points": 4, "per_layer": "n_layers"}
    assert data["dropout"] == {"type": "float", "low": 0.0, "high": 0.5, "step": 0.1, "per_layer": "n_layers"}
    assert data["filters"] == {"type": "int", "low": 8, "high": 64, "step": 8, "grid": [8, 32, 64]}
    assert data["momentum"] == {"type": "float", "low": 0.0, "high": 0.9, "when": {"optimizer": "sgd"}}
    assert data["nesterov"] == {"type": "bool", "when": {"momentum": [0.0, 0.9], "optimizer": "sgd"}}
    assert data["epochs"] == {"type": "fixed", "value": 20}


def test_from_dict_shorthands():
    space = SearchSpace.from_dict({"optimizer": ["adam", "sgd"], "epochs": 20, "run": "a"})
    assert space["optimizer"] == Categorical("optimizer", ["adam", "sgd"])
    assert space["epochs"] == Fixed("epochs", 20)
    assert space["run"] == Fixed("run", "a")


@pytest.mark.parametrize(
    ("body", "path", "words"),
    [
        ({"type": "integer", "low": 1, "high": 3}, ("n", "type"), "did you mean 'int'?"),
        ({"type": ["int"], "low": 1, "high": 3}, ("n", "type"), "unknown type"),  # used to crash: unhashable
        ({"low": 1, "high": 3}, ("n",), "has no `type`"),
        ({"type": "int", "low": 1, "hihg": 3}, ("n", "hihg"), "did you mean 'high'?"),
        ({"type": "int", "low": 1}, ("n",), "needs `high`"),
        ({"type": "int", "low": 1, "high": 3, "log": "yes"}, ("n", "log"), "true or false"),
        ({"type": "categorical", "choices": [1], "low": 1}, ("n", "low"), "accepts type, per_layer, when, choices"),
        ({"type": "fixed"}, ("n",), "needs `value`"),
    ],
)
def test_from_dict_checks_keys_and_kind(body, path, words):
    with pytest.raises(SpecError) as info:
        SearchSpace.from_dict({"n": body})
    assert info.value.path == path
    assert words in str(info.value)


@pytest.mark.parametrize("spec", [[], "space", None, {}])
def test_from_dict_needs_a_non_empty_mapping(spec):
    with pytest.raises(SpecError):
        SearchSpace.from_dict(spec)


def test_public_api_is_exported():
    for name in spaces.__all__:
        assert hasattr(spaces, name), name
