"""Everything a worker process needs to join a study, as plain JSON-able data."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass


@dataclass
class RunPlan:
    """How one ``tuneforge run`` proceeds; handed to each worker as one JSON line on its stdin."""

    study_name: str
    storage_url: str
    tracking_uri: str
    experiment_id: str
    parent_run_id: str
    budget: int
    deadline: float | None
    sampler_seed: int | None
    train_seed: int
    workers: int

    def message(self, env: Mapping[str, str] | None = None) -> str:
        """One JSON line for a worker's stdin: this plan and what the worker adds to its environment."""
        return json.dumps({"plan": asdict(self), "env": dict(env or {})}) + "\n"

    @classmethod
    def from_message(cls, line: str) -> tuple[RunPlan, dict[str, str]]:
        """The plan and the environment of a :meth:`message` line."""
        message = json.loads(line)
        return cls(**message["plan"]), dict(message.get("env", {}))
