"""Log a comparison to MLflow: one parent run, one nested run per strategy and repeat.

The parent (tag ``tuneforge.role=comparison``) holds what defines the comparison and,
at the end, the report files under ``compare/`` and each strategy's mean figures.
A nested run (tag ``tuneforge.role=compare-strategy``, ``strategy``, ``repeat``) holds
the strategy's seed, its best config, best validation and test values, fits, epochs,
seconds, fits/seconds to reach the grid's best, the best-so-far curve (``best_so_far``
with ``step`` = fits) and its scored configs as ``evaluations.csv``.
"""

from __future__ import annotations

import csv
import json
import math
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from search.comparison._strategies import StrategyRun
from tracking.mlflow_log import client_for, ensure_experiment, log_metrics, log_params

ROLE_PARENT = "comparison"
ROLE_CHILD = "compare-strategy"
ARTIFACT_PATH = "compare"


class ComparisonRun:
    """The parent run; ``log_strategy`` adds a finished nested run, ``finish`` attaches the report."""

    def __init__(self, tracking_uri: str, experiment: str, study: str, params: Mapping[str, Any]) -> None:
        self.client = client_for(tracking_uri)
        self.experiment_id = ensure_experiment(self.client, experiment, tracking_uri)
        run = self.client.create_run(self.experiment_id, run_name=f"compare-{study}",
                                     tags={"tuneforge.role": ROLE_PARENT, "tuneforge.study": study})
        self.run_id: str = run.info.run_id
        self.study = study
        log_params(self.client, self.run_id, params)

    def log_strategy(self, run: StrategyRun, *, target: float | None, fit_log: str | None) -> str:
        """One nested run for ``run``; returns its id."""
        from mlflow.entities import Metric

        child = self.client.create_run(
            self.experiment_id, run_name=f"{run.strategy}-r{run.repeat}",
            tags={"mlflow.parentRunId": self.run_id, "tuneforge.role": ROLE_CHILD, "tuneforge.study": self.study,
                  "strategy": run.strategy, "repeat": str(run.repeat), "note": run.note})
        cid = child.info.run_id
        params: dict[str, Any] = {"strategy": run.strategy, "repeat": run.repeat, "seed": run.seed}
        if run.best is not None:
            params.update({f"best.{k}": v for k, v in run.best.config.items()})
        log_params(self.client, cid, params)
        metrics = {"fits": run.fits, "epochs": run.epochs, "configs": len(run.evaluations),
                   "search_seconds": run.search_seconds, "refit_seconds": run.refit_seconds,
                   "total_seconds": run.total_seconds}
        if run.best is not None and not math.isnan(run.best.value):
            metrics["best_validation"] = run.best.value
        if not math.isnan(run.test_value):
            metrics["test_score"] = run.test_value
        hit = run.reached(target)
        if hit is not None:
            metrics["fits_to_grid_best"] = hit.fits
            metrics["seconds_to_grid_best"] = hit.seconds
        log_metrics(self.client, cid, metrics)
        curve = [Metric("best_so_far", float(p.best), int(p.seconds * 1000) + 1, p.fits)
                 for p in run.timeline if p.best is not None]
        for i in range(0, len(curve), 1000):
            self.client.log_batch(cid, metrics=curve[i:i + 1000])
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "evaluations.csv"
            with path.open("w", newline="") as f:
                w = csv.writer(f)
                w.writerow(["order", "value", "score", "fold_scores", "epochs", "config"])
                for i, e in enumerate(run.evaluations):
                    w.writerow([i, e.value, e.score, json.dumps(e.fold_scores), e.epochs, json.dumps(e.config)])
            self.client.log_artifact(cid, str(path))
            if fit_log and Path(fit_log).exists():
                self.client.log_artifact(cid, fit_log)
        self.client.set_terminated(cid, status="FINISHED")
        return cid

    def finish(self, summary: Sequence[Mapping[str, Any]], files: Sequence[Path], *, status: str = "FINISHED") -> None:
        """Each strategy's mean figures as ``<strategy>.<column>`` metrics, the report files as artifacts."""
        metrics: dict[str, float] = {}
        for row in summary:
            for column in ("best_validation", "test_score", "fits_to_grid_best", "seconds_to_grid_best",
                           "fits", "total_seconds"):
                value = row.get(column)
                if isinstance(value, (int, float)) and not math.isnan(value):
                    metrics[f"{row['strategy']}.{column}"] = float(value)
        log_metrics(self.client, self.run_id, metrics)
        for path in files:
            if path.exists():
                self.client.log_artifact(self.run_id, str(path), ARTIFACT_PATH)
        self.client.set_terminated(self.run_id, status=status)

    def fail(self, reason: str) -> None:
        self.client.set_tag(self.run_id, "error", reason[:5000])
        self.client.set_terminated(self.run_id, status="FAILED")
