"""Rerunning a finished study: wall time beyond Python's start (issue 20, goal < 3 s).

Runs a small digits study once (2 trials, 1 epoch, export on), then, interleaved and
repeated, times ``python -c pass`` (Python's own start) and ``tuneforge run`` of the
same, finished, study (its export present: nothing to train, nothing to export). The
figure is the median of (rerun - Python start) over the repeats. Each process is
fresh, as a user's would be.

    .venv/bin/python benchmarks/rerun_finished.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
STUDY = {
    "name": "bench-rerun",
    "data": {"dataset": "digits", "validation": 0.2, "test": 0.2, "seed": 42},
    "space": {"units": {"type": "int", "low": 16, "high": 64, "log": True},
              "learning_rate": {"type": "float", "low": 1e-3, "high": 1e-2, "log": True}},
    "fixed": {"n_layers": 1, "epochs": 1, "batch_size": 64, "patience": 0},
    "search": {"algorithm": "tpe", "pruner": "none", "trials": 2, "workers": 1, "seed": 1},
}


def timed(args: list[str], cwd: Path, env: dict[str, str]) -> float:
    """Wall seconds of one fresh process; fails loudly if it fails."""
    start = time.perf_counter()
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{args} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return seconds


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="tuneforge-rerun-") as tmp:
        folder = Path(tmp)
        path = folder / "study.yaml"
        path.write_text(yaml.safe_dump(STUDY, sort_keys=False))
        env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
        env["TUNEFORGE_HOME"] = str(folder / ".tuneforge")
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
        run = [sys.executable, "-m", "search.cli", "run", str(path), "--export-dir", str(folder / "model")]
        first = timed(run, folder, env)
        python, rerun = [], []
        for _ in range(args.repeats):
            python.append(timed([sys.executable, "-c", "pass"], folder, env))
            rerun.append(timed(run, folder, env))
    beyond = statistics.median(r - p for r, p in zip(rerun, python))
    print(f"load average {' '.join(f'{v:.1f}' for v in os.getloadavg())}; {args.repeats} repeats")
    print(f"first run (2 trials, export): {first:.1f} s")
    print(f"rerun of the finished study: median {statistics.median(rerun):.2f} s; Python's start "
          f"{statistics.median(python):.2f} s; beyond Python's start {beyond:.2f} s (goal < 3 s)")


if __name__ == "__main__":
    main()
