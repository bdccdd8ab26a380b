"""One trial's artifacts: learning curves, confusion matrix or predicted-vs-actual, summary, config.

Pure plotting on arrays and dicts (no Keras here), so it is cheap to test.
"""

from __future__ import annotations

import functools
import json
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

LEARNING_CURVE = "learning_curve.png"
CONFUSION_MATRIX = "confusion_matrix.png"
PREDICTED_VS_ACTUAL = "predicted_vs_actual.png"
MODEL_SUMMARY = "model_summary.txt"
CONFIG = "config.json"


PYPLOT_LOCK = threading.RLock()  # pyplot's figure registry and rcParams are process-global


def _locked(draw: Callable[..., Path]) -> Callable[..., Path]:
    """One figure at a time in this process: a trial's plots and the study report can share it (inline runs)."""
    @functools.wraps(draw)
    def locked(*args: Any, **kwargs: Any) -> Path:
        with PYPLOT_LOCK:
            return draw(*args, **kwargs)

    return locked


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _margins(fig: Any, left: float, bottom: float, right: float = 0.2, top: float = 0.45) -> None:
    """Fixed margins in inches: ``tight_layout`` would draw the whole figure once more (a third of its cost)."""
    width, height = fig.get_size_inches()
    fig.subplots_adjust(left=left / width, bottom=bottom / height, right=1 - right / width, top=1 - top / height)


@_locked
def plot_learning_curve(history: Sequence[Mapping[str, float]], metric: str, path: Path, *,
                        title: str = "") -> Path:
    """Loss and the objective metric per epoch, training and validation, side by side."""
    plt = _pyplot()
    base = metric.removeprefix("val_")
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    epochs = list(range(len(history)))
    for ax, name in zip(axes, ("loss", base)):
        for key, label, style in ((name, "train", "-"), (f"val_{name}", "validation", "--")):
            values = [h.get(key, np.nan) for h in history]
            if not all(np.isnan(values)):
                ax.plot(epochs, values, style, marker="o", markersize=3, label=label)
        ax.set_xlabel("epoch")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
        falls = name in ("loss", "mse", "mae", "rmse", "mape", "msle")  # a fixed corner: "best" is slow
        ax.legend(loc="upper right" if falls else "lower right")
    fig.suptitle(title or "learning curve")
    _margins(fig, left=0.75, bottom=0.55, top=0.5)
    fig.subplots_adjust(wspace=0.3)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


@_locked
def plot_confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, path: Path, *,
                          class_names: Sequence[str] | None = None, title: str = "") -> Path:
    """Counts of (true class, predicted class) on the validation split."""
    plt = _pyplot()
    n = int(max(y_true.max(initial=0), y_pred.max(initial=0))) + 1
    if class_names:
        n = max(n, len(class_names))
    matrix = np.zeros((n, n), dtype=int)
    np.add.at(matrix, (y_true.astype(int), y_pred.astype(int)), 1)
    fig, ax = plt.subplots(figsize=(0.45 * n + 3, 0.45 * n + 2.5))
    ax.imshow(matrix, cmap="Blues")
    labels = list(class_names) if class_names else [str(i) for i in range(n)]
    ax.set_xticks(range(n), labels, rotation=45 if n > 6 else 0)
    ax.set_yticks(range(n), labels)
    for i in range(n):
        for j in range(n):
            if matrix[i, j]:
                color = "white" if matrix[i, j] > matrix.max() / 2 else "black"
                ax.text(j, i, str(matrix[i, j]), ha="center", va="center", fontsize=8, color=color)
    accuracy = np.trace(matrix) / max(1, matrix.sum())
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"{title} validation accuracy {accuracy:.3f}".strip())
    longest = max(len(label) for label in labels)
    _margins(fig, left=0.5 + 0.07 * longest, bottom=0.5 + (0.05 if n > 6 else 0.0) * longest + 0.2)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


@_locked
def plot_predicted_vs_actual(y_true: np.ndarray, y_pred: np.ndarray, path: Path, *, title: str = "") -> Path:
    """Regression: predictions against targets on the validation split, with the identity line."""
    plt = _pyplot()
    y_true, y_pred = np.ravel(y_true), np.ravel(y_pred)
    fig, ax = plt.subplots(figsize=(4.5, 4.2))
    ax.scatter(y_true, y_pred, s=10, alpha=0.6)
    low, high = float(min(y_true.min(), y_pred.min())), float(max(y_true.max(), y_pred.max()))
    ax.plot([low, high], [low, high], "k--", linewidth=1)
    rmse = float(np.sqrt(np.mean((y_true - y_pred) ** 2)))
    ax.set_xlabel("actual")
    ax.set_ylabel("predicted")
    ax.set_title(f"{title} validation RMSE {rmse:.3g}".strip())
    ax.grid(alpha=0.3)
    _margins(fig, left=0.75, bottom=0.55)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def write_trial_artifacts(out_dir: Path, *, history: Sequence[Mapping[str, float]], metric: str, task: str,
                          config: Mapping[str, Any], y_true: np.ndarray | None = None,
                          y_pred: np.ndarray | None = None, class_names: Sequence[str] | None = None,
                          summary: str | None = None, title: str = "") -> list[Path]:
    """Write every artifact that the inputs allow; returns the files written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = [out_dir / CONFIG]
    (out_dir / CONFIG).write_text(json.dumps(dict(config), indent=2, default=str))
    if history:
        written.append(plot_learning_curve(history, metric, out_dir / LEARNING_CURVE, title=title))
    if y_true is not None and y_pred is not None and len(y_true):
        if task == "regression":
            written.append(plot_predicted_vs_actual(y_true, y_pred, out_dir / PREDICTED_VS_ACTUAL, title=title))
        else:
            written.append(plot_confusion_matrix(y_true, y_pred, out_dir / CONFUSION_MATRIX,
                                                 class_names=class_names, title=title))
    if summary:
        (out_dir / MODEL_SUMMARY).write_text(summary)
        written.append(out_dir / MODEL_SUMMARY)
    return written
