"""Read back what a study wrote to MLflow, with an independent client."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from spaces.core import Url

# What tuneforge's own servers set (`tuneforge ui`, docker-compose.yml): no MLflow job runner (GenAI
# evaluation jobs, several huey consumer processes of about 4 CPU-s each) beside a test's `mlflow server`.
SERVER_ENV = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}


@dataclass
class StudyRuns:
    parent: list[Any]
    trials: dict[int, Any]  # trial number -> run
    client: Any

    def history(self, run: Any, key: str) -> list[float]:
        return [m.value for m in sorted(self.client.get_metric_history(run.info.run_id, key), key=lambda m: m.step)]


def study_runs(tracking_uri: str | Url, experiment: str) -> StudyRuns:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=Url.parse(tracking_uri).secret())
    exp = client.get_experiment_by_name(experiment)
    assert exp is not None, f"no experiment {experiment!r} in {tracking_uri}"
    runs = client.search_runs([exp.experiment_id], max_results=5000)
    parents = [r for r in runs if r.data.tags.get("tuneforge.role") == "study"]
    trials: dict[int, Any] = {}
    for r in runs:
        if r.data.tags.get("tuneforge.role") == "trial":
            number = int(r.data.tags["trial_number"])
            assert number not in trials, f"two MLflow runs for trial {number}"
            trials[number] = r
    return StudyRuns(parents, trials, client)
