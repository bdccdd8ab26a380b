"""Optimizers by name, with the config's learning rate (and momentum / weight decay)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from search.models._defaults import value


def make_optimizer(config: Mapping[str, Any]) -> Any:
    """adam, adamw, sgd (with momentum), rmsprop, nadam or adagrad."""
    import keras

    name = value(config, "optimizer")
    lr = float(value(config, "learning_rate"))
    if name == "adam":
        return keras.optimizers.Adam(learning_rate=lr)
    if name == "adamw":
        return keras.optimizers.AdamW(learning_rate=lr, weight_decay=float(value(config, "weight_decay")))
    if name == "sgd":
        return keras.optimizers.SGD(learning_rate=lr, momentum=float(value(config, "momentum")))
    if name == "rmsprop":
        return keras.optimizers.RMSprop(learning_rate=lr, momentum=float(config.get("momentum", 0.0)))
    if name == "nadam":
        return keras.optimizers.Nadam(learning_rate=lr)
    if name == "adagrad":
        return keras.optimizers.Adagrad(learning_rate=lr)
    from spaces import SpecError

    raise SpecError(f"unknown optimizer {name!r}", path=("optimizer",))
