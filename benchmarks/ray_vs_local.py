"""The same digits study on the local executor and on a local Ray cluster, side by side in one run.

    .venv/bin/python benchmarks/ray_vs_local.py            # 24-point grid, 15 epochs, 2 workers (a few minutes)
    .venv/bin/python benchmarks/ray_vs_local.py --quick    # a 4-point smoke version

Both sides run ``tuneforge run STUDY --no-export`` in a fresh process on the same 24-point
grid (so both train exactly the same configs), 2 workers, journal storage and a local MLflow
store. The Ray side adds ``--ray local``: the run starts a Ray instance on this machine (its
dashboard included), the workers are Ray actors, the data goes through the object store and
the study file through Optuna's gRPC storage proxy. Figures:

* trials/hour from the first trial's start to the last trial's end, Ray / local (goal >= 0.87x,
  i.e. at most 15 % overhead, as Ray Tune's scalability page reports);
* the same over the whole wall clock (start-up included);
* start-up: process start to the first trial's start on each side, and Ray's extra seconds.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path


def run(ratios, study: dict, folder: Path, *extra: str):
    """``tuneforge run STUDY --no-export [extra]`` in a fresh process; a ratios.StudyRun."""
    return ratios.run_study(study, folder, extra=extra)


def compare(ratios, *, quick: bool, folder: Path) -> list[tuple[str, str, str, str, str]]:
    """Run both sides once; rows of (figure, Ray, local, ratio, goal)."""
    units = [16, 32] if quick else [32, 64, 128, 256]
    rates = [3e-3, 1e-2] if quick else [1e-3, 2e-3, 3e-3, 5e-3, 1e-2, 2e-2]
    epochs = 3 if quick else 15
    study = ratios.grid_study(epochs, units, rates, 2)
    local = run(ratios, study, folder / "local")
    on_ray = run(ratios, study, folder / "ray", "--ray", "local")
    n = len(local.trials)
    if len(on_ray.trials) != n:
        raise RuntimeError(f"the Ray side finished {len(on_ray.trials)} trials, the local side {n}")
    busy = (n / on_ray.busy_seconds) / (n / local.busy_seconds)
    wall = (n / on_ray.seconds) / (n / local.seconds)
    ray_start = min(t["start"] for t in on_ray.trials) - on_ray.started
    local_start = min(t["start"] for t in local.trials) - local.started
    return [
        (f"trials/hour, {n}-point digits grid, 2 workers (first start to last end)",
         f"{n / on_ray.busy_seconds * 3600:,.0f}", f"{n / local.busy_seconds * 3600:,.0f}", f"{busy:.2f}x", ">= 0.87x"),
        ("  same, over the whole wall clock (start-up included)", f"{n / on_ray.seconds * 3600:,.0f}",
         f"{n / local.seconds * 3600:,.0f}", f"{wall:.2f}x", ""),
        ("start-up: process start to the first trial's start", f"{ray_start:.1f} s", f"{local_start:.1f} s",
         f"Ray +{ray_start - local_start:.1f} s", ""),
        ("phases", on_ray.phases, local.phases, "", ""),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a 4-point grid, 3 epochs")
    args = parser.parse_args()
    import ratios  # benchmarks/ratios.py: this script's folder is first on sys.path

    info = ratios.machine()
    print(f"{info['cores']} cores ({info['cpu']}), Python {info['python']}, TensorFlow {info['tensorflow']}, "
          f"load average at start {info['load']}")
    with tempfile.TemporaryDirectory(prefix="tuneforge-ray-bench-") as tmp:
        rows = compare(ratios, quick=args.quick, folder=Path(tmp))
    print(f"load average at end {ratios.load_average()}")
    ratios.print_table(("figure", "Ray (--ray local)", "local executor", "ratio", "goal"), rows)


if __name__ == "__main__":
    main()
