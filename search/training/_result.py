"""What training one config returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from search.states import TrialState


@dataclass
class TrainResult:
    """The outcome of one config: state, objective, per-epoch history (fold 0) and cost."""

    state: TrialState
    objective: float | None
    metric: str
    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int | None = None
    error: str | None = None
    n_params: int = 0
    seconds: float = 0.0
    fold_objectives: list[float] = field(default_factory=list)
    model: Any = None  # the trained Keras model (best weights) when asked to keep it

    @property
    def epochs_trained(self) -> int:
        return len(self.history)

    @property
    def best_metrics(self) -> dict[str, float]:
        """All metrics of the best epoch (fold 0)."""
        if self.best_epoch is None or self.best_epoch >= len(self.history):
            return {}
        return dict(self.history[self.best_epoch])
