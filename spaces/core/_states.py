"""Trial states, mapped one to one onto Optuna states and MLflow run statuses."""

from __future__ import annotations

from enum import Enum


class TrialState(str, Enum):
    """How a trial ended (or that it is still running)."""

    RUNNING = "RUNNING"
    COMPLETE = "COMPLETE"
    PRUNED = "PRUNED"
    FAIL = "FAIL"

    @property
    def mlflow_status(self) -> str:
        """RUNNING -> RUNNING, COMPLETE and PRUNED -> FINISHED (tag ``state`` tells them apart), FAIL -> FAILED."""
        return {"RUNNING": "RUNNING", "COMPLETE": "FINISHED", "PRUNED": "FINISHED", "FAIL": "FAILED"}[self.value]

    def to_optuna(self):  # -> optuna.trial.TrialState
        """The matching ``optuna.trial.TrialState``."""
        import optuna

        return getattr(optuna.trial.TrialState, self.value)

    @classmethod
    def from_optuna(cls, state) -> TrialState:  # state: optuna.trial.TrialState
        """From an ``optuna.trial.TrialState`` (WAITING counts as RUNNING)."""
        return cls.RUNNING if state.name == "WAITING" else cls(state.name)
