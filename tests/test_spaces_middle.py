"""The middle of a space: the config a new Optuna study trains first (spaces.middle_config)."""

from __future__ import annotations

import pytest

import spaces
from spaces import Bool, Categorical, Fixed, Float, Int, SearchSpace


@pytest.mark.parametrize(("param", "middle"), [
    (Int("n_layers", 1, 3), 2),
    (Int("units", 32, 256, log=True), 91),           # sqrt(32 * 256) = 90.5
    (Int("units", 16, 512, step=16), 272),            # 15.5 steps up rounds to even: 16 steps
    (Int("width", 1, 2), 1),                          # half a step up rounds to even: 0 steps
    (Float("dropout", 0.0, 0.4), 0.2),
    (Float("learning_rate", 1e-4, 3e-2, log=True), 0.00173),   # 3 significant digits, not 0.0017320508...
    (Float("l2", 1e-6, 1e-2, log=True), 1e-4),
    (Float("momentum", 0.0, 0.9, step=0.3), 0.6),     # on the step: 0.45 -> 0.6
    (Float("x", 0.5, 0.5), 0.5),
    (Categorical("optimizer", ["adam", "sgd"]), "adam"),
    (Categorical("batch_size", [128, 32]), 128),      # the first choice, not the smallest
    (Bool("batch_norm"), False),
    (Fixed("epochs", 30), 30),
])
def test_the_middle_of_each_kind(param, middle):
    value = spaces.middle_value(param)
    assert value == pytest.approx(middle) and type(value) is type(middle)
    assert param.contains(value)


def test_the_middle_config_has_exactly_the_parameters_that_exist_there():
    space = SearchSpace(
        Int("n_layers", 1, 3),
        Int("units", 32, 256, log=True, per_layer="n_layers"),
        Categorical("optimizer", ["adam", "sgd"]),
        Float("momentum", 0.0, 0.9, when={"optimizer": "sgd"}),
        Fixed("epochs", 5),
    )
    config = spaces.middle_config(space)
    assert config == {"n_layers": 2, "units_0": 91, "units_1": 91, "optimizer": "adam", "epochs": 5}
    assert space.check_config(config) == []
    sgd_first = SearchSpace(Categorical("optimizer", ["sgd", "adam"]),
                            Float("momentum", 0.0, 0.9, when={"optimizer": "sgd"}))
    assert spaces.middle_config(sgd_first) == {"optimizer": "sgd", "momentum": 0.45}
