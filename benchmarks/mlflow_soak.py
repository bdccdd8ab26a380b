"""Concurrency soak: 4 workers x 25 trials logging to the default local MLflow store.

Runs a real ``tuneforge run`` (tiny digits MLPs, 4 epochs each) in a temporary
folder, then reads everything back with an independent client and counts lost
metric values, runs not finished, and lock errors in the worker logs.

    .venv/bin/python benchmarks/mlflow_soak.py [--workers 4] [--trials 100] [--epochs 4]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--epochs", type=int, default=4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tuneforge-soak-") as tmp:
        folder = Path(tmp)
        study = {
            "name": "soak",
            "data": {"dataset": "digits", "validation": 0.25, "test": 0.0, "seed": 1},
            "space": {"units": {"type": "int", "low": 4, "high": 16},
                      "learning_rate": {"type": "float", "low": 1e-3, "high": 1e-2, "log": True}},
            "fixed": {"epochs": args.epochs, "batch_size": 128, "patience": 0, "n_layers": 1},
            "search": {"algorithm": "random", "pruner": "none", "trials": args.trials, "workers": args.workers,
                       "seed": 1},
        }
        path = folder / "soak.yaml"
        path.write_text(yaml.safe_dump(study))
        env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
        env["TUNEFORGE_HOME"] = str(folder / ".tuneforge")
        start = time.time()
        proc = subprocess.run([sys.executable, "-m", "search.cli", "run", str(path), "--no-export"], cwd=folder,
                              env=env, capture_output=True, text=True)
        seconds = time.time() - start
        if proc.returncode != 0:
            sys.exit(f"run failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
        from mlflow import MlflowClient

        client = MlflowClient(f"sqlite:///{folder / '.tuneforge' / 'mlflow.db'}")
        experiment = client.get_experiment_by_name("soak")
        runs = [r for r in client.search_runs([experiment.experiment_id], max_results=10_000)
                if r.data.tags.get("tuneforge.role") == "trial"]
        keys = ("loss", "accuracy", "val_loss", "val_accuracy")
        expected = found = 0
        for run in runs:
            epochs = int(float(run.data.metrics.get("epochs_trained", 0)))
            for key in keys:
                expected += epochs
                found += len(client.get_metric_history(run.info.run_id, key))
        logs = "\n".join(p.read_text(errors="replace") for p in (folder / ".tuneforge" / "logs").rglob("*.log"))
        lock_errors = logs.lower().count("database is locked") + logs.count("OperationalError")
        not_finished = sum(r.info.status != "FINISHED" for r in runs)
    rows = [
        ("workers x trials", f"{args.workers} x {args.trials // args.workers}"),
        ("trial runs in MLflow", f"{len(runs)} (expected {args.trials})"),
        ("per-epoch metric values", f"{found} of {expected} (lost {expected - found})"),
        ("runs not FINISHED", str(not_finished)),
        ("lock errors in worker logs", str(lock_errors)),
        ("wall time", f"{seconds:.0f} s ({args.trials / seconds * 3600:.0f} trials/hour)"),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"| {'figure':<{width}} | value |\n|{'-' * (width + 2)}|-------|")
    for name, value in rows:
        print(f"| {name:<{width}} | {value} |")


if __name__ == "__main__":
    main()
