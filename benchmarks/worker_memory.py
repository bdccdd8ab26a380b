"""Resident memory of `tuneforge worker` slot processes over a long study: recycled against not.

The same study (digits, varied widths and depths, a few epochs) is submitted twice
to a fresh SQLite study storage and run by one `tuneforge worker` with one slot:
once with ``--max-trials-per-process N`` (a fresh process every N trials) and once
with ``--max-trials-per-process 0`` (one process for every trial). psutil samples
the resident memory (RSS) of the worker's slot processes every half second; the
table shows it at trial checkpoints, the peak, and the ratios between the modes.

    .venv/bin/python benchmarks/worker_memory.py [--trials 100] [--recycle-every 10] [--epochs 2]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "-1")

import psutil  # noqa: E402
import yaml  # noqa: E402

MiB = 1024 * 1024


def study_file(folder: Path, name: str, trials: int, epochs: int) -> Path:
    spec = {
        "name": name,
        "data": {"dataset": "digits", "validation": 0.25, "test": 0.2, "seed": 3},
        "space": {
            "n_layers": {"type": "int", "low": 1, "high": 3},
            "units": {"type": "int", "low": 16, "high": 128, "log": True, "per_layer": "n_layers"},
            "dropout": {"type": "float", "low": 0.0, "high": 0.3},
            "optimizer": {"type": "categorical", "choices": ["adam", "sgd", "rmsprop"]},
            "learning_rate": {"type": "float", "low": 1e-3, "high": 1e-2, "log": True},
            "batch_size": {"type": "categorical", "choices": [32, 64]},
        },
        "fixed": {"epochs": epochs, "patience": 0},
        "search": {"engine": "optuna", "algorithm": "random", "pruner": "none", "trials": trials, "seed": 11},
    }
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def finished(storage_url: str, name: str) -> int:
    import sqlalchemy

    engine = sqlalchemy.create_engine(storage_url)
    with engine.connect() as conn:
        value = conn.execute(sqlalchemy.text(
            "SELECT count(*) FROM trials t JOIN studies s ON s.study_id = t.study_id "
            "WHERE s.study_name = :n AND t.state IN ('COMPLETE', 'PRUNED', 'FAIL')"), {"n": name}).scalar()
    engine.dispose()
    return int(value or 0)


def run_mode(folder: Path, storage: str, tracking: str, name: str, recycle: int, trials: int,
             epochs: int) -> dict:
    """Submit and run one study; returns the RSS samples keyed by finished trials."""
    env = {**os.environ, "TUNEFORGE_HOME": str(folder / ".tuneforge")}
    env.pop("MLFLOW_TRACKING_URI", None)
    subprocess.run([sys.executable, "-m", "search.cli", "submit", str(study_file(folder, name, trials, epochs)),
                    "--storage", storage, "--tracking-uri", tracking], check=True, env=env, cwd=folder,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    start = time.monotonic()
    log = open(folder / f"{name}.log", "w")
    daemon = subprocess.Popen([sys.executable, "-m", "search.cli", "worker", "--storage", storage, "--study", name,
                               "--workers", "1", "--max-trials-per-process", str(recycle)],
                              env=env, cwd=folder, stdout=log, stderr=subprocess.STDOUT)
    samples: list[tuple[int, float]] = []  # (finished trials, RSS of the slot processes)
    pids: set[int] = set()
    while daemon.poll() is None:
        try:
            children = psutil.Process(daemon.pid).children(recursive=True)
            rss = sum(c.memory_info().rss for c in children)
            pids.update(c.pid for c in children)
        except psutil.Error:
            rss = 0
        if rss:
            samples.append((finished(storage, name), rss))
        time.sleep(0.5)
    if daemon.returncode != 0:
        raise SystemExit(f"worker failed ({daemon.returncode}); see {folder / (name + '.log')}")
    return {"samples": samples, "seconds": time.monotonic() - start, "processes": len(pids),
            "trials": finished(storage, name)}


def at(samples: list[tuple[int, float]], trials: int) -> float | None:
    """The highest RSS sampled while ``trials`` trials were finished (None if never sampled)."""
    values = [rss for n, rss in samples if n == trials]
    return max(values) if values else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--recycle-every", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="tuneforge-worker-memory-"))
    storage = f"sqlite:///{folder / 'studies.db'}"
    tracking = f"sqlite:///{folder / 'mlflow.db'}"
    modes = [(f"recycled every {args.recycle_every}", args.recycle_every), ("never recycled", 0)]
    results = {label: run_mode(folder, storage, tracking, f"mem-{recycle}", recycle, args.trials, args.epochs)
               for label, recycle in modes}

    load = os.getloadavg()
    print(f"{args.trials} trials of digits MLPs (1-3 layers, 16-128 units, {args.epochs} epochs), one slot; "
          f"{psutil.cpu_count()} CPUs, load average {load[0]:.1f}")
    checkpoints = sorted({c for c in (1, 5, 10, 25, 50, 75, args.trials - 1) if 0 < c < args.trials})
    header = f"{'mode':<22}" + "".join(f"{'@' + str(c):>8}" for c in checkpoints) + \
        f"{'peak':>8}{'mean':>8}{'procs':>7}{'wall s':>8}"
    print("slot-process RSS in MiB after N finished trials")
    print(header)
    print("-" * len(header))
    summary = {}
    for label, _ in modes:
        r = results[label]
        values = [rss for _, rss in r["samples"]]
        peak, mean = max(values), sum(values) / len(values)
        summary[label] = (peak, mean, at(r["samples"], checkpoints[-1]))
        cells = "".join(f"{(at(r['samples'], c) or float('nan')) / MiB:>8.0f}" for c in checkpoints)
        print(f"{label:<22}{cells}{peak / MiB:>8.0f}{mean / MiB:>8.0f}{r['processes']:>7}{r['seconds']:>8.0f}")
    (rp, rm, rl), (np_, nm, nl) = summary[modes[0][0]], summary[modes[1][0]]
    print()
    print(f"never / recycled: peak {np_ / rp:.2f}x, mean {nm / rm:.2f}x"
          + (f", at trial {checkpoints[-1]} {nl / rl:.2f}x" if nl and rl else ""))
    print(f"(work files in {folder})")


if __name__ == "__main__":
    main()
