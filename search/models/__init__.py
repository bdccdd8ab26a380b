"""Keras models built from a config dict: ``mlp``, ``wide_deep`` or a user's builder.

Every model takes raw features: tabular inputs are standardized inside the model by
a ``Normalization`` layer holding the training split's statistics, so an exported
model serves the same inputs the user has.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from search.models._custom import build_custom, import_builder
from search.models._defaults import DEFAULTS, layer_value, value
from search.models._errors import BuilderFailed, ModelError
from search.models._heads import loss_and_metrics, output_layer
from search.models._mlp import build_mlp, build_wide_deep
from search.models._optimizers import make_optimizer

BUILTIN = {"mlp": build_mlp, "wide_deep": build_wide_deep}


def build_model(
    model: str | Any,
    config: Mapping[str, Any],
    *,
    task: str,
    input_shape: tuple[int, ...],
    n_outputs: int,
    stats: tuple[np.ndarray, np.ndarray] | None = None,
    search_path: Path | None = None,
) -> Any:
    """An uncompiled Keras model. ``model`` is "mlp", "wide_deep" or an object with ``.builder``."""
    import keras

    inputs = keras.Input(shape=tuple(input_shape), name="features")
    features = inputs
    if stats is not None:
        mean, variance = stats
        features = keras.layers.Normalization(mean=mean, variance=variance, name="standardize")(inputs)
    if isinstance(model, str):
        if model not in BUILTIN:
            raise ModelError(f"unknown model {model!r}; known: {', '.join(BUILTIN)}", path=("model",))
        return BUILTIN[model](config, inputs, features, output_layer(task, n_outputs))
    dotted = model.builder
    user = build_custom(import_builder(dotted, search_path=search_path), config, input_shape, n_outputs, dotted)
    return keras.Model(inputs, user(features), name="custom")


def compile_model(model: Any, config: Mapping[str, Any], *, task: str, steps_per_execution: int = 1,
                  jit_compile: bool | str = "auto") -> Any:
    """Compile with the config's optimizer and the task's loss and metrics."""
    loss, metrics = loss_and_metrics(task)
    model.compile(
        optimizer=make_optimizer(config),
        loss=loss,
        metrics=metrics,
        steps_per_execution=steps_per_execution,
        jit_compile=jit_compile,
    )
    return model


__all__ = ["DEFAULTS", "BuilderFailed", "ModelError", "build_model", "compile_model", "layer_value", "loss_and_metrics",
           "value"]
