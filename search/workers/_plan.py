"""Everything a worker needs to join a study, as plain JSON-able data."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass

from spaces.core import Url, resolve_storage_url, resolve_tracking_uri


@dataclass
class RunPlan:
    """How one run proceeds; handed to each worker (a process's stdin, or a call in-process).

    ``storage_url`` and ``tracking_uri`` are parsed :class:`~spaces.core.Url` objects (strings are
    parsed on construction), so printing a plan never shows a password; :meth:`message` carries the
    real URLs to a worker's stdin, never its command line.
    """

    study_name: str
    storage_url: Url
    tracking_uri: Url
    experiment_id: str
    parent_run_id: str
    budget: int
    deadline: float | None
    sampler_seed: int | None
    train_seed: int
    workers: int

    def __post_init__(self) -> None:
        self.storage_url = resolve_storage_url(self.storage_url)
        self.tracking_uri = resolve_tracking_uri(self.tracking_uri)

    def to_dict(self) -> dict:
        """Plain JSON-able data, the real URLs included (for a worker's stdin or a Ray task, never a log)."""
        data = asdict(self)
        data.update(storage_url=self.storage_url.secret(), tracking_uri=self.tracking_uri.secret())
        return data

    def message(self, env: Mapping[str, str] | None = None) -> str:
        """One JSON line for a worker's stdin: this plan and what the worker adds to its environment."""
        return json.dumps({"plan": self.to_dict(), "env": dict(env or {})}) + "\n"

    @classmethod
    def from_message(cls, line: str) -> tuple[RunPlan, dict[str, str]]:
        """The plan and the environment of a :meth:`message` line."""
        message = json.loads(line)
        return cls(**message["plan"]), dict(message.get("env", {}))
