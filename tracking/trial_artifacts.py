"""Collect a trained trial's artifacts from its Keras model and log them to its MLflow run."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from tracking.plots._trial import write_trial_artifacts


def model_summary(model: Any) -> str:
    """The Keras model summary as text."""
    lines: list[str] = []
    model.summary(print_fn=lambda line, **_: lines.append(line))
    return "\n".join(lines)


def predictions(model: Any, x: np.ndarray, task: str) -> np.ndarray:
    """Class labels (classification, binary) or values (regression) for ``x``."""
    out = model.predict(x, batch_size=1024, verbose=0)
    if task == "classification":
        return np.argmax(out, axis=1)
    if task == "binary":
        return (np.ravel(out) >= 0.5).astype(int)
    return np.ravel(out)


def log_trial_artifacts(client: Any, run_id: str, *, result: Any, dataset: Any, metric: str, config: dict,
                        title: str) -> list[str]:
    """Learning curve, confusion matrix / predicted-vs-actual, model summary and config, in one upload."""
    info = dataset.info
    split = dataset.splits[0]
    y_pred = summary = None
    if result.model is not None:
        y_pred = predictions(result.model, split.x_val, info.task)
        summary = model_summary(result.model)
    with tempfile.TemporaryDirectory(prefix="tuneforge-trial-") as tmp:
        written = write_trial_artifacts(
            Path(tmp), history=result.history, metric=metric, task=info.task, config=config,
            y_true=np.asarray(split.y_val) if y_pred is not None else None, y_pred=y_pred,
            class_names=info.class_names, summary=summary, title=title,
        )
        client.log_artifacts(run_id, tmp)
    return [p.name for p in written]
