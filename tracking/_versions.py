"""Versions of the packages a result depends on, for model cards and MLflow params."""

from __future__ import annotations

import platform
from importlib import metadata

PACKAGES = ("tuneforge", "tensorflow", "keras", "optuna", "keras-tuner", "scikit-learn", "scikeras", "mlflow", "numpy")


def package_versions() -> dict[str, str]:
    """``{"python": "3.11.7", "tensorflow": "2.21.0", ...}``; absent packages are left out."""
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions
