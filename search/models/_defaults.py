"""Defaults for every parameter the built-in models and the trainer read, and per-layer lookup."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

DEFAULTS: dict[str, Any] = {
    "n_layers": 2,
    "units": 64,
    "activation": "relu",
    "dropout": 0.0,
    "l1": 0.0,
    "l2": 0.0,
    "batch_norm": False,
    "optimizer": "adam",
    "learning_rate": 1e-3,
    "momentum": 0.0,
    "weight_decay": 0.004,
    "batch_size": 32,
    "epochs": 20,
    "patience": 5,
}


def value(config: Mapping[str, Any], name: str) -> Any:
    """``config[name]``, or the documented default."""
    return config.get(name, DEFAULTS.get(name))


def layer_value(config: Mapping[str, Any], name: str, index: int) -> Any:
    """Layer ``index``'s value: ``name_index`` (per-layer), else ``name``, else the default."""
    per_layer = f"{name}_{index}"
    if per_layer in config:
        return config[per_layer]
    return value(config, name)
