"""Everything a worker process needs to join a study, as plain JSON-able data."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass


@dataclass
class RunPlan:
    """How one ``tuneforge run`` proceeds; handed to each worker as JSON."""

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

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> RunPlan:
        return cls(**json.loads(text))
