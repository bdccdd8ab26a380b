"""What the task decides: output layer, loss and metrics."""

from __future__ import annotations

from typing import Any


def output_layer(task: str, n_outputs: int) -> Any:
    """softmax for classes, sigmoid for binary, linear for regression."""
    import keras

    if task == "classification":
        return keras.layers.Dense(n_outputs, activation="softmax", name="output")
    if task == "binary":
        return keras.layers.Dense(1, activation="sigmoid", name="output")
    return keras.layers.Dense(1, activation="linear", name="output")


def loss_and_metrics(task: str) -> tuple[Any, list[Any]]:
    """Loss and the metrics reported as ``accuracy``/``auc``/``rmse``/``mae``."""
    import keras

    if task == "classification":
        return "sparse_categorical_crossentropy", [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]
    if task == "binary":
        return "binary_crossentropy", [keras.metrics.BinaryAccuracy(name="accuracy"), keras.metrics.AUC(name="auc")]
    return "mse", [keras.metrics.RootMeanSquaredError(name="rmse"), keras.metrics.MeanAbsoluteError(name="mae")]
