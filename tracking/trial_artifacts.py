"""Collect a trained trial's artifacts from its Keras model and log them to its MLflow run.

In two steps so the slow part can leave the critical path: :func:`collect_trial_artifacts`
reads what needs the Keras model (validation predictions, the summary) on the training
thread; :meth:`TrialArtifacts.log` draws the plots and uploads everything, and may run on
another thread once the model is gone.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

PREDICT_BATCH = 4096


def model_summary(model: Any) -> str:
    """The Keras model summary as text."""
    lines: list[str] = []
    model.summary(print_fn=lambda line, **_: lines.append(line))
    return "\n".join(lines)


def predictions(model: Any, x: np.ndarray, task: str) -> np.ndarray:
    """Class labels (classification, binary) or values (regression) for ``x``.

    Direct (eager) calls in batches: no ``predict`` function to trace for a model used once.
    """
    if len(x) == 0:
        return np.zeros((0,))
    out = np.concatenate([np.asarray(model(x[i:i + PREDICT_BATCH], training=False))
                          for i in range(0, len(x), PREDICT_BATCH)])
    if task == "classification":
        return np.argmax(out, axis=1)
    if task == "binary":
        return (np.ravel(out) >= 0.5).astype(int)
    return np.ravel(out)


@dataclass
class TrialArtifacts:
    """Everything one trial's artifacts are drawn from: plain arrays and dicts, no Keras model."""

    history: list[dict[str, float]]
    metric: str
    task: str
    config: dict
    title: str
    y_true: np.ndarray | None = None
    y_pred: np.ndarray | None = None
    class_names: tuple[str, ...] | None = None
    summary: str | None = None

    def log(self, client: Any, run_id: str) -> list[str]:
        """Learning curve, confusion matrix / predicted-vs-actual, model summary and config, in one upload."""
        from tracking.plots._trial import write_trial_artifacts

        with tempfile.TemporaryDirectory(prefix="tuneforge-trial-") as tmp:
            written = write_trial_artifacts(
                Path(tmp), history=self.history, metric=self.metric, task=self.task, config=self.config,
                y_true=self.y_true, y_pred=self.y_pred, class_names=self.class_names, summary=self.summary,
                title=self.title,
            )
            client.log_artifacts(run_id, tmp)
        return [p.name for p in written]


def collect_trial_artifacts(*, result: Any, dataset: Any, metric: str, config: dict, title: str) -> TrialArtifacts:
    """What the artifacts need from ``result`` (its model, if kept, on the first split's validation rows)."""
    info = dataset.info
    split = dataset.splits[0]
    collected = TrialArtifacts(history=[dict(h) for h in result.history], metric=metric, task=info.task,
                               config=dict(config), title=title, class_names=info.class_names)
    if result.model is not None:
        collected.y_pred = predictions(result.model, split.x_val, info.task)
        collected.y_true = np.asarray(split.y_val)
        collected.summary = model_summary(result.model)
    return collected


def log_trial_artifacts(client: Any, run_id: str, *, result: Any, dataset: Any, metric: str, config: dict,
                        title: str) -> list[str]:
    """Collect and log in one go (on the calling thread)."""
    return collect_trial_artifacts(result=result, dataset=dataset, metric=metric, config=config,
                                   title=title).log(client, run_id)
