"""The dense MLP and the course's wide-and-deep model."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from search.models._defaults import layer_value, value


def _dense_stack(x: Any, config: Mapping[str, Any]) -> Any:
    """``n_layers`` Dense layers with per-layer units, activation, dropout, L1/L2, batch norm."""
    import keras

    for i in range(int(value(config, "n_layers"))):
        l1, l2 = float(layer_value(config, "l1", i)), float(layer_value(config, "l2", i))
        regularizer = keras.regularizers.L1L2(l1=l1, l2=l2) if (l1 or l2) else None
        batch_norm = bool(layer_value(config, "batch_norm", i))
        activation = layer_value(config, "activation", i)
        x = keras.layers.Dense(
            int(layer_value(config, "units", i)),
            activation=None if batch_norm else activation,
            kernel_regularizer=regularizer,
            name=f"dense_{i}",
        )(x)
        if batch_norm:
            x = keras.layers.BatchNormalization(name=f"batch_norm_{i}")(x)
            x = keras.layers.Activation(activation, name=f"activation_{i}")(x)
        rate = float(layer_value(config, "dropout", i))
        if rate > 0:
            x = keras.layers.Dropout(rate, name=f"dropout_{i}")(x)
    return x


def build_mlp(config: Mapping[str, Any], inputs: Any, features: Any, head: Any) -> Any:
    """Inputs -> (normalization) -> Dense stack -> head."""
    import keras

    return keras.Model(inputs, head(_dense_stack(features, config)), name="mlp")


def build_wide_deep(config: Mapping[str, Any], inputs: Any, features: Any, head: Any) -> Any:
    """The course's wide & deep model: the input joins the deep path right before the output."""
    import keras

    deep = _dense_stack(features, config)
    joined = keras.layers.Concatenate(name="wide_and_deep")([features, deep])
    return keras.Model(inputs, head(joined), name="wide_deep")
