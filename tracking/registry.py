"""Register the best model in MLflow's model registry with the Keras flavour.

Each new best trial becomes a new version of the model named after the study,
with an input example, a signature and tags (trial, objective, dataset sha256).
Every version keeps its own artifacts (``model-trial-N``) so a later best never
overwrites an earlier version's files. All calls go through an explicit client.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np


def _requirements() -> list[str]:
    """Pinned requirements of the served model (given, so MLflow does not infer them by running it)."""
    out = []
    for name in ("tensorflow", "keras", "numpy"):
        try:
            out.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            continue
    return out


def latest_version(client: Any, name: str) -> Any | None:
    """The newest version of registered model ``name``, or None."""
    versions = client.search_model_versions(f"name = '{name}'")
    return max(versions, key=lambda v: int(v.version)) if versions else None


def register_best(client: Any, run_id: str, model: Any, *, name: str, trial: int, x_example: np.ndarray,
                  tags: Mapping[str, str]) -> str:
    """Log ``model`` to ``run_id`` as ``model-trial-N`` and register it as a new version of ``name``.

    Returns the version; if the newest version already holds this trial, returns it unchanged.
    """
    import mlflow
    from mlflow.exceptions import MlflowException
    from mlflow.models import infer_signature

    newest = latest_version(client, name)
    if newest is not None and newest.tags.get("trial") == str(trial):
        return str(newest.version)
    example = np.asarray(x_example[:5], dtype=np.float32)
    signature = infer_signature(example, model.predict(example, verbose=0))
    artifact_path = f"model-trial-{trial}"
    with tempfile.TemporaryDirectory(prefix="tuneforge-model-") as tmp:
        path = Path(tmp) / "model"
        path.mkdir()
        mlflow.keras.save_model(model, str(path), signature=signature, input_example=example,
                                pip_requirements=_requirements())
        client.log_artifacts(run_id, str(path), artifact_path)
    try:
        client.create_registered_model(name, description=f"best models of the tuneforge study '{name}'")
    except MlflowException as exc:
        if "RESOURCE_ALREADY_EXISTS" not in str(exc.error_code):
            raise
    version = client.create_model_version(name, source=f"runs:/{run_id}/{artifact_path}", run_id=run_id,
                                          tags={"trial": str(trial), **{k: str(v) for k, v in tags.items()}})
    return str(version.version)
