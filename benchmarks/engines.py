"""Keras Tuner against Optuna on one study, equal trial budget: best validation score and wall time.

    .venv/bin/python benchmarks/engines.py [--study studies/digits_mlp.yaml] [--trials 30] [--workers 2]

Each variant runs the same study file (its timeout removed so the trial budget decides)
through the real `tuneforge run` in a fresh work directory, one after the other, and the
table reports what the study storage recorded: best validation score, the number of
complete / pruned trials, the epochs trained over all trials, and the wall time.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = [  # (label, engine, algorithm, pruner)
    ("optuna tpe + hyperband pruner", "optuna", "tpe", "hyperband"),
    ("keras_tuner bayesian", "keras_tuner", "bayesian", "none"),
    ("keras_tuner hyperband", "keras_tuner", "hyperband", "none"),
]


def run_variant(spec: dict, label: str, engine: str, algorithm: str, pruner: str, *, trials: int,
                workers: int, seed: int) -> dict:
    import optuna

    with tempfile.TemporaryDirectory(prefix="tuneforge-engines-") as tmp:
        folder = Path(tmp)
        study = {**spec, "name": f"{spec['name']}-{engine}-{algorithm}".replace("_", "-")}
        study["search"] = {**spec["search"], "engine": engine, "algorithm": algorithm, "pruner": pruner,
                           "trials": trials, "workers": workers, "seed": seed, "timeout": None}
        study["data"] = {**spec["data"]}
        path = folder / "study.yaml"
        path.write_text(yaml.safe_dump(study, sort_keys=False))
        env = {**os.environ, "TUNEFORGE_HOME": str(folder / ".tuneforge")}
        env.pop("MLFLOW_TRACKING_URI", None)
        start = time.perf_counter()
        result = subprocess.run([sys.executable, "-m", "search.cli", "run", str(path), "--no-export"], cwd=folder,
                                env=env, capture_output=True, text=True)
        seconds = time.perf_counter() - start
        if result.returncode != 0:
            raise SystemExit(f"{label} failed:\n{result.stderr[-2000:]}")
        storage = optuna.storages.JournalStorage(
            optuna.storages.journal.JournalFileBackend(str(folder / ".tuneforge" / "optuna.journal")))
        done = optuna.load_study(study_name=study["name"], storage=storage).get_trials()
        complete = [t for t in done if t.state is optuna.trial.TrialState.COMPLETE]
        best = max(complete, key=lambda t: t.value if study["objective"].get("direction") != "minimize"
                   else -t.value)
        return {
            "label": label, "best": best.value, "best_trial": best.number, "complete": len(complete),
            "pruned": sum(t.state is optuna.trial.TrialState.PRUNED for t in done),
            "epochs": sum(int(t.user_attrs.get("epochs", 0)) for t in done), "seconds": seconds,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--study", default=str(ROOT / "studies" / "digits_mlp.yaml"))
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    spec = yaml.safe_load(Path(args.study).read_text())
    metric = spec.get("objective", {}).get("metric", "objective")
    rows = []
    for label, engine, algorithm, pruner in VARIANTS:
        print(f"running {label} ...", file=sys.stderr, flush=True)
        rows.append(run_variant(spec, label, engine, algorithm, pruner, trials=args.trials, workers=args.workers,
                                seed=args.seed))
    print(f"\n{spec['name']}: {args.trials} trials, {args.workers} workers, seed {args.seed}; "
          f"{os.cpu_count()} cores, {platform.processor() or platform.machine()}, load {os.getloadavg()[0]:.1f}\n")
    print(f"| variant | best {metric} | complete / pruned | epochs trained | wall time |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['label']} | {r['best']:.4f} (trial {r['best_trial']}) | {r['complete']} / {r['pruned']} | "
              f"{r['epochs']} | {r['seconds']:.0f} s |")


if __name__ == "__main__":
    main()
