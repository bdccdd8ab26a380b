"""Small study files for tests: digits, a few epochs, tiny widths."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

BASE: dict[str, Any] = {
    "data": {"dataset": "digits", "validation": 0.25, "test": 0.2, "seed": 3},
    "space": {
        "n_layers": {"type": "int", "low": 1, "high": 2},
        "units": {"type": "int", "low": 8, "high": 48, "log": True, "per_layer": "n_layers"},
        "learning_rate": {"type": "float", "low": 1e-3, "high": 3e-2, "log": True},
        "optimizer": {"type": "categorical", "choices": ["adam", "sgd"]},
        "momentum": {"type": "float", "low": 0.0, "high": 0.9, "when": {"optimizer": "sgd"}},
    },
    "fixed": {"epochs": 3, "batch_size": 64, "patience": 0},
    "search": {"engine": "optuna", "algorithm": "tpe", "pruner": "none", "trials": 4, "workers": 1, "seed": 7},
}


def write_study(folder: Path, name: str, **overrides: Any) -> Path:
    """Write a study file; ``search={...}``/``fixed={...}`` update those sections."""
    study = {k: (dict(v) if isinstance(v, dict) else v) for k, v in BASE.items()}
    study["name"] = name
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(study.get(key), dict) and key != "space":
            study[key] = {**study[key], **value}
        else:
            study[key] = value
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(study, sort_keys=False))
    return path
