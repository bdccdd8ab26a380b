"""search.models: the built-in models, a user's builder, task heads, optimizers and config semantics.

Structure is checked on built (and compiled) models, which costs no training; each
model kind and each task is also trained for real, briefly, on a tiny bundled set.
"""

from __future__ import annotations

import math
import sys
import textwrap
import uuid
from pathlib import Path

import numpy as np
import pytest

from search.data import load_data
from search.models import ModelError, build_model, compile_model
from search.spec._models import ModelBuilder
from search.states import TrialState
from search.training import train_config
from spaces import SpecError

keras = pytest.importorskip("keras")

TINY = {"n_layers": 1, "units": 16, "epochs": 2, "patience": 0, "batch_size": 64, "learning_rate": 0.01}

# the metrics each task reports (train and validation) and its objective
TASKS = {
    "digits": ("classification", "softmax", 10, {"loss", "accuracy"}, "val_accuracy", "maximize"),
    "breast_cancer": ("binary", "sigmoid", 1, {"loss", "accuracy", "auc"}, "val_auc", "maximize"),
    "diabetes": ("regression", "linear", 1, {"loss", "rmse", "mae"}, "val_rmse", "minimize"),
}

CUSTOM_MODULE = '''
import keras

def build(config, input_shape, n_outputs):
    head = "softmax" if n_outputs > 1 else config.get("head", "linear")
    inputs = keras.Input(shape=input_shape)
    x = keras.layers.Dense(int(config.get("width", 8)), activation="relu", name="user_hidden")(inputs)
    return keras.Model(inputs, keras.layers.Dense(n_outputs, activation=head, name="user_output")(x),
                       name="user_model")

def not_a_model(config, input_shape, n_outputs):
    return keras.layers.Dense(n_outputs)

def returns_none(config, input_shape, n_outputs):
    return None

def raises(config, input_shape, n_outputs):
    if config.get("width", 8) > 100:
        raise ValueError("width above 100 is not supported")
    return build(config, input_shape, n_outputs)

not_callable = 42
'''


@pytest.fixture(scope="module")
def datasets():
    return {name: load_data(name) for name in TASKS}


def write_module(folder: Path, text: str = CUSTOM_MODULE) -> str:
    """Write a builder module with a name no other test uses (imports are cached per process)."""
    name = f"user_models_{uuid.uuid4().hex[:10]}"
    (folder / f"{name}.py").write_text(textwrap.dedent(text))
    return name


def build(kind, dataset, config=None, search_path=None):
    info, split = dataset.info, dataset.splits[0]
    stats = (split.mean, split.variance) if split.mean is not None else None
    return build_model(kind, config or {}, task=info.task, input_shape=info.input_shape,
                       n_outputs=info.n_outputs, stats=stats, search_path=search_path)


def layers_of(model, cls):
    return [layer for layer in model.layers if isinstance(layer, cls)]


def dense_widths(model):
    return [layer.units for layer in layers_of(model, keras.layers.Dense)]


# ---------------------------------------------------------------- every kind trains, every task's head

@pytest.mark.slow
@pytest.mark.parametrize(("kind", "name"), [("mlp", "digits"), ("wide_deep", "breast_cancer"),
                                            ("custom", "diabetes")])
def test_each_model_kind_trains_on_each_task(kind, name, datasets, tmp_path):
    dataset = datasets[name]
    task, activation, units, metrics, objective, direction = TASKS[name]
    config, search_path, model_kind = dict(TINY), None, kind
    if kind == "custom":
        model_kind = ModelBuilder(builder=f"{write_module(tmp_path)}:build")
        search_path = tmp_path
    result = train_config(config, dataset, model_kind=model_kind, metric=objective, direction=direction,
                          seed=0, keep_model=True, search_path=search_path)
    assert result.state is TrialState.COMPLETE, result.error
    assert result.error is None
    assert result.objective is not None and math.isfinite(result.objective)
    assert result.epochs_trained == 2
    for logs in result.history:
        assert set(logs) == metrics | {f"val_{m}" for m in metrics}
        assert all(math.isfinite(v) for v in logs.values())
    assert result.objective == result.history[result.best_epoch][objective]
    assert result.fold_objectives == [result.objective]
    assert result.n_params == result.model.count_params() > 0
    # the model actually learnt something in two epochs
    if task == "classification":
        assert result.objective > 0.3  # chance is 0.1
    elif task == "binary":
        assert result.objective > 0.8  # chance is 0.5
    else:
        assert result.history[-1]["loss"] < result.history[0]["loss"]
    head = result.model.layers[-1]
    if kind == "custom":
        assert result.model.name == "custom"
        user = result.model.layers[-1]
        assert isinstance(user, keras.Model) and user.name == "user_model"
        head = user.layers[-1]
    assert head.units == units
    assert head.activation.__name__ == activation
    # predictions have the task's shape and range
    out = result.model.predict(dataset.x_test[:20], verbose=0)
    assert out.shape == (20, units)
    if task == "classification":
        np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-5)


@pytest.mark.parametrize("kind", ["mlp", "wide_deep"])
@pytest.mark.parametrize("name", list(TASKS))
def test_builtin_head_loss_and_metrics_follow_the_task(kind, name, datasets):
    task, activation, units, _, _, _ = TASKS[name]
    model = compile_model(build(kind, datasets[name]), {}, task=task)
    head = model.get_layer("output")
    assert head is model.layers[-1]
    assert head.units == units and head.activation.__name__ == activation
    loss = {"classification": "sparse_categorical_crossentropy", "binary": "binary_crossentropy",
            "regression": "mse"}[task]
    assert model.loss == loss


def test_wide_deep_joins_the_standardized_input_before_the_head(datasets):
    dataset = datasets["breast_cancer"]
    model = build("wide_deep", dataset, {"n_layers": 2, "units_0": 12, "units_1": 5})
    joined = model.get_layer("wide_and_deep")
    assert isinstance(joined, keras.layers.Concatenate)
    assert joined.output.shape[-1] == dataset.info.input_shape[0] + 5
    sources = {t._keras_history.operation.name for t in joined.input}  # noqa: SLF001
    assert sources == {"standardize", "dense_1"}
    assert model.name == "wide_deep" and build("mlp", dataset).name == "mlp"


def test_unknown_builtin_model_is_a_model_error(datasets):
    with pytest.raises(ModelError) as info:
        build("resnet", datasets["digits"])
    assert info.value.path == ("model",)
    assert "unknown model 'resnet'" in str(info.value) and "mlp" in str(info.value)


# ---------------------------------------------------------------- custom builder errors

def builder_error(dotted, dataset, search_path):
    with pytest.raises(ModelError) as info:
        build(ModelBuilder(builder=dotted), dataset, search_path=search_path)
    text = str(info.value)
    assert text.startswith("model.builder: "), text
    assert info.value.path == ("model", "builder")
    return text


def test_builder_module_not_importable(datasets, tmp_path):
    name = f"no_such_module_{uuid.uuid4().hex[:8]}"
    text = builder_error(f"{name}:build", datasets["digits"], tmp_path)
    assert f"cannot import module {name!r}" in text and "ModuleNotFoundError" in text
    assert "PYTHONPATH" in text  # the hint says where the module is looked for


def test_builder_module_found_only_on_the_search_path(datasets, tmp_path):
    name = write_module(tmp_path)
    text = builder_error(f"{name}:build", datasets["digits"], None)
    assert f"cannot import module {name!r}" in text
    assert str(tmp_path) not in sys.path
    model = build(ModelBuilder(builder=f"{name}:build"), datasets["digits"], search_path=tmp_path)
    assert str(tmp_path) not in sys.path  # the study folder is searched, not left on sys.path
    assert isinstance(model, keras.Model)


def test_builder_module_that_fails_on_import(datasets, tmp_path):
    name = write_module(tmp_path, "import keras\nraise RuntimeError('broken on purpose')\n")
    text = builder_error(f"{name}:build", datasets["digits"], tmp_path)
    assert f"cannot import module {name!r}" in text
    assert "RuntimeError: broken on purpose" in text


@pytest.mark.parametrize("attr", ["missing", "not_callable"])
def test_builder_function_missing(attr, datasets, tmp_path):
    name = write_module(tmp_path)
    text = builder_error(f"{name}:{attr}", datasets["digits"], tmp_path)
    assert f"module {name!r} has no function {attr!r}" in text


@pytest.mark.parametrize(("attr", "got"), [("not_a_model", "Dense"), ("returns_none", "NoneType")])
def test_builder_returns_a_non_model(attr, got, datasets, tmp_path):
    name = write_module(tmp_path)
    text = builder_error(f"{name}:{attr}", datasets["digits"], tmp_path)
    assert f"the builder '{name}:{attr}' must return a keras.Model, but returned {got}" in text


def test_builder_errors_stop_the_search_not_just_the_trial(datasets, tmp_path):
    """A study whose builder can never work raises from train_config (the worker stops)."""
    name = write_module(tmp_path)
    with pytest.raises(ModelError, match="has no function 'missing'"):
        train_config(TINY, datasets["digits"], model_kind=ModelBuilder(builder=f"{name}:missing"),
                     search_path=tmp_path)


def test_builder_raising_for_one_config_fails_that_trial_only(datasets, tmp_path):
    """A builder that rejects a config is that trial's failure: FAIL with the reason, no exception."""
    name = write_module(tmp_path)
    kind = ModelBuilder(builder=f"{name}:raises")
    result = train_config({**TINY, "width": 500}, datasets["digits"], model_kind=kind, search_path=tmp_path)
    assert result.state is TrialState.FAIL
    assert result.objective is None and result.model is None
    assert f"the builder '{name}:raises' raised ValueError: width above 100 is not supported" in result.error


# ---------------------------------------------------------------- optimizers

@pytest.mark.parametrize(
    ("config", "cls", "expected"),
    [
        ({"optimizer": "adam", "learning_rate": 3e-3}, "Adam", {}),
        ({"optimizer": "adamw", "learning_rate": 2e-3, "weight_decay": 0.01}, "AdamW", {"weight_decay": 0.01}),
        ({"optimizer": "adamw", "learning_rate": 2e-3}, "AdamW", {"weight_decay": 0.004}),
        ({"optimizer": "sgd", "learning_rate": 0.05, "momentum": 0.9}, "SGD", {"momentum": 0.9}),
        ({"optimizer": "sgd", "learning_rate": 0.05}, "SGD", {"momentum": 0.0}),
        ({"optimizer": "rmsprop", "learning_rate": 1e-4, "momentum": 0.5}, "RMSprop", {"momentum": 0.5}),
        ({"optimizer": "nadam", "learning_rate": 1e-3}, "Nadam", {}),
        ({"optimizer": "adagrad", "learning_rate": 1e-2}, "Adagrad", {}),
        ({}, "Adam", {}),  # the defaults: adam at 1e-3
    ],
)
def test_optimizer_class_learning_rate_and_momentum(config, cls, expected, datasets):
    model = compile_model(build("mlp", datasets["digits"], config), config, task="classification")
    optimizer = model.optimizer
    assert type(optimizer) is getattr(keras.optimizers, cls)
    assert float(optimizer.learning_rate) == pytest.approx(config.get("learning_rate", 1e-3), rel=1e-6)
    for attr, want in expected.items():
        assert getattr(optimizer, attr) == pytest.approx(want)


def test_unknown_optimizer_is_a_spec_error(datasets):
    with pytest.raises(SpecError) as info:
        compile_model(build("mlp", datasets["digits"]), {"optimizer": "lion"}, task="classification")
    assert info.value.path == ("optimizer",) and "unknown optimizer 'lion'" in str(info.value)


# ---------------------------------------------------------------- config semantics

def test_per_layer_units_give_dense_widths_in_order(datasets):
    model = build("mlp", datasets["digits"], {"n_layers": 3, "units_0": 48, "units_1": 24, "units_2": 12})
    assert dense_widths(model) == [48, 24, 12, 10]
    assert [layer.name for layer in layers_of(model, keras.layers.Dense)] == ["dense_0", "dense_1", "dense_2",
                                                                              "output"]
    # a per-layer value overrides the shared one; missing layers take the shared one, then the default
    assert dense_widths(build("mlp", datasets["digits"], {"n_layers": 3, "units": 20, "units_1": 7})) == [
        20, 7, 20, 10]
    assert dense_widths(build("mlp", datasets["digits"], {})) == [64, 64, 10]
    assert dense_widths(build("mlp", datasets["digits"], {"n_layers": 1, "units_0": 5, "units_3": 99})) == [5, 10]


def test_per_layer_activation(datasets):
    model = build("mlp", datasets["digits"], {"n_layers": 2, "activation": "tanh", "activation_1": "elu"})
    assert [model.get_layer(f"dense_{i}").activation.__name__ for i in range(2)] == ["tanh", "elu"]


def test_dropout_layers_only_when_asked(datasets):
    assert not layers_of(build("mlp", datasets["digits"], {"n_layers": 2}), keras.layers.Dropout)
    model = build("mlp", datasets["digits"], {"n_layers": 3, "dropout": 0.25, "dropout_1": 0.0})
    dropouts = layers_of(model, keras.layers.Dropout)
    assert [(d.name, d.rate) for d in dropouts] == [("dropout_0", 0.25), ("dropout_2", 0.25)]
    names = [layer.name for layer in model.layers]
    assert names.index("dropout_0") == names.index("dense_0") + 1


def test_batch_norm_goes_between_dense_and_activation(datasets):
    model = build("mlp", datasets["digits"], {"n_layers": 2, "batch_norm_0": True, "activation": "relu"})
    names = [layer.name for layer in model.layers]
    assert names == ["features", "dense_0", "batch_norm_0", "activation_0", "dense_1", "output"]
    assert model.get_layer("dense_0").activation.__name__ == "linear"
    assert model.get_layer("activation_0").activation.__name__ == "relu"
    assert model.get_layer("dense_1").activation.__name__ == "relu"
    everywhere = build("mlp", datasets["digits"], {"n_layers": 2, "batch_norm": True})
    assert len(layers_of(everywhere, keras.layers.BatchNormalization)) == 2


def test_l1_l2_regularizers_only_when_asked(datasets):
    model = build("mlp", datasets["digits"], {"n_layers": 3, "l2": 1e-3, "l1_1": 1e-4, "l2_2": 0.0})
    reg0, reg1, reg2 = (model.get_layer(f"dense_{i}").kernel_regularizer for i in range(3))
    assert isinstance(reg0, keras.regularizers.L1L2)
    assert (reg0.l1, reg0.l2) == pytest.approx((0.0, 1e-3))
    assert (reg1.l1, reg1.l2) == pytest.approx((1e-4, 1e-3))
    assert reg2 is None
    assert model.get_layer("output").kernel_regularizer is None
    assert all(layer.kernel_regularizer is None for layer in layers_of(build("mlp", datasets["digits"]),
                                                                         keras.layers.Dense))
    # the penalty reaches the loss
    assert len(model.losses) == 2


@pytest.mark.parametrize("kind", ["mlp", "wide_deep"])
def test_tabular_data_is_standardized_inside_the_model(kind, datasets):
    dataset = datasets["breast_cancer"]
    split = dataset.splits[0]
    model = build(kind, dataset)
    norm = model.layers[1]
    assert isinstance(norm, keras.layers.Normalization) and norm.name == "standardize"
    np.testing.assert_allclose(np.ravel(norm.mean), split.mean, rtol=1e-6)
    np.testing.assert_allclose(np.ravel(norm.variance), split.variance, rtol=1e-6)
    # the training split comes out with mean 0 and variance 1
    out = keras.ops.convert_to_numpy(norm(split.x_train))
    np.testing.assert_allclose(out.mean(axis=0), 0.0, atol=1e-4)
    np.testing.assert_allclose(out.var(axis=0), 1.0, atol=1e-3)
    # the statistics are the training split's, not the pool's
    assert not np.allclose(np.ravel(norm.mean), dataset.pool_stats[0])


def test_custom_builder_gets_standardized_features_too(datasets, tmp_path):
    dataset = datasets["breast_cancer"]
    kind = ModelBuilder(builder=f"{write_module(tmp_path)}:build")
    model = build(kind, dataset, {"width": 4}, search_path=tmp_path)
    assert model.layers[1].name == "standardize"
    np.testing.assert_allclose(np.ravel(model.layers[1].mean), dataset.splits[0].mean, rtol=1e-6)
    user = model.layers[-1]
    assert user.get_layer("user_hidden").units == 4  # the config reached the builder


def test_images_are_not_standardized(datasets):
    assert datasets["digits"].splits[0].mean is None
    model = build("mlp", datasets["digits"])
    assert not layers_of(model, keras.layers.Normalization)
    assert model.layers[1].name == "dense_0"
