"""The Keras callback that watches every epoch: reports, early stopping, best weights, NaN."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import keras

Report = Callable[[int, dict[str, float]], None]


class Pruned(Exception):
    """Raised by a report callback to stop the trial as pruned."""


class EpochWatch(keras.callbacks.Callback):
    """Tracks the objective per epoch, keeps the best weights, stops on patience, NaN or pruning."""

    def __init__(self, metric: str, direction: str, patience: int, report: Report | None) -> None:
        super().__init__()
        self.metric = metric
        self.sign = 1.0 if direction == "maximize" else -1.0
        self.patience = patience
        self.report = report
        self.history: list[dict[str, float]] = []
        self.best: float | None = None
        self.best_epoch: int | None = None
        self.best_weights: list[Any] | None = None
        self.waited = 0
        self.pruned = False
        self.failure: str | None = None

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        logs = {k: float(v) for k, v in (logs or {}).items()}
        self.history.append(logs)
        bad = [k for k, v in logs.items() if not math.isfinite(v)]
        if bad:
            self.failure = f"non-finite {', '.join(sorted(bad))} at epoch {epoch} (learning rate too high?)"
            self.model.stop_training = True
            return
        if self.metric not in logs:
            self.failure = f"metric {self.metric!r} not reported; got {', '.join(sorted(logs))}"
            self.model.stop_training = True
            return
        value = logs[self.metric]
        if self.best is None or self.sign * value > self.sign * self.best:
            self.best, self.best_epoch, self.waited = value, epoch, 0
            self.best_weights = self.model.get_weights()
        else:
            self.waited += 1
            if self.patience and self.waited >= self.patience:
                self.model.stop_training = True
        if self.report is not None:
            try:
                self.report(epoch, logs)
            except Pruned:
                self.pruned = True
                self.model.stop_training = True
