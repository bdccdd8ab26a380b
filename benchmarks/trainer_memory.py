"""Resident memory of one process across consecutive ``train_config`` trials on digits.

Trials vary the config a little (width, depth, dropout, batch norm, optimizer, batch
size), 3 epochs each, as a worker running many trials in one process would. RSS is
read with psutil at checkpoints: right after the trial (its model dropped, before the
next trial's ``clear_session``) and again after an explicit ``gc.collect()``.
``--keep-custom-gradients`` turns off the trainer's clean-up of TensorFlow's global
gradient registry, to show the per-trial growth it prevents.

First it measures how the in-graph loop holds a split (``--split-dataset``, mnist_5k by
default, its rows repeated ``--split-repeat`` times to be large enough to see): RSS added by making the split's tensors, against the
split's own bytes, and the same for ``tf.constant`` copies (what the loop did before
issue 20: every split held twice).

    .venv/bin/python benchmarks/trainer_memory.py [--trials 50] [--epochs 3] [--keep-custom-gradients]
                                                  [--split-dataset mnist_5k]
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "-1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psutil  # noqa: E402

from search._quiet import import_tensorflow_quietly  # noqa: E402

import_tensorflow_quietly()

from search.data import load_data  # noqa: E402
from search.states import TrialState  # noqa: E402
from search.training import train_config  # noqa: E402

MiB = 1024 * 1024
CHECKPOINTS = (1, 2, 5, 10, 20, 30, 40, 50, 75, 100, 150, 200)


def config_for(i: int, epochs: int) -> dict:
    """A slightly different config for trial ``i`` (cycles with period 60)."""
    return {
        "n_layers": 1 + i % 3,
        "units": (16, 32, 64, 128, 48)[i % 5],
        "dropout": (0.0, 0.1, 0.3)[i % 3],
        "batch_norm": i % 4 == 3,
        "optimizer": ("adam", "sgd", "rmsprop", "adamw")[i % 4],
        "momentum": 0.9,
        "learning_rate": (1e-3, 3e-3, 1e-2)[i % 3],
        "batch_size": (32, 64)[i % 2],
        "epochs": epochs,
        "patience": 0,
    }


def split_hold(dataset_name: str, repeat: int) -> None:
    """Print the RSS the split's tensors add: the trainer's (shared) against ``tf.constant`` copies.

    The split is the data set's first split with its rows repeated ``repeat`` times (made
    the data module's way): large enough that freed heap pages the allocator reuses
    cannot hide a copy.
    """
    import numpy as np
    import tensorflow as tf

    from search.data import Split
    from search.data._split import _take
    from search.training._loop import split_tensors

    process = psutil.Process()
    first = load_data(dataset_name).splits[0]
    tiled = [_take(np.concatenate([a] * repeat), slice(None)) for a in (first.x_train, first.y_train, first.x_val,
                                                                          first.y_val)]
    split = Split(*tiled, first.mean, first.variance)
    size = sum(a.nbytes for a in tiled) / MiB
    gc.collect()
    before = process.memory_info().rss
    shared = split_tensors(split)
    trainer = (process.memory_info().rss - before) / MiB
    before = process.memory_info().rss
    copies = [tf.constant(a) for a in tiled]
    copied = (process.memory_info().rss - before) / MiB
    print(f"{dataset_name} split 0 x {repeat}: arrays {size:.0f} MiB; the trainer's tensors add {trainer:+.0f} MiB "
          f"RSS; tf.constant copies (the loop before issue 20) add {copied:+.0f} MiB")
    del shared, copies, split, tiled
    gc.collect()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=50)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--keep-custom-gradients", action="store_true",
                        help="skip the trainer's clean-up of TensorFlow's gradient registry (shows the leak it fixes)")
    parser.add_argument("--split-dataset", default="mnist_5k", help="the data set of the split-hold line")
    parser.add_argument("--split-repeat", type=int, default=16, help="its rows repeated this many times")
    args = parser.parse_args()
    split_hold(args.split_dataset, args.split_repeat)
    if args.keep_custom_gradients:
        import search.training._trainer as trainer

        trainer._forget_custom_gradients = lambda before: None

    process = psutil.Process()
    dataset = load_data("digits")
    gc.collect()
    baseline = process.memory_info().rss
    rows = [(0, baseline, baseline, 0.0, "-")]
    start = time.perf_counter()
    states: dict[str, int] = {}
    for i in range(1, args.trials + 1):
        t = time.perf_counter()
        result = train_config(config_for(i - 1, args.epochs), dataset, seed=i)
        seconds = time.perf_counter() - t
        states[result.state.value] = states.get(result.state.value, 0) + 1
        assert result.state is TrialState.COMPLETE, result.error
        del result
        if i in CHECKPOINTS or i == args.trials:
            rss = process.memory_info().rss
            gc.collect()
            rows.append((i, rss, process.memory_info().rss, seconds, f"{time.perf_counter() - start:.0f}"))

    load = os.getloadavg()
    print(f"digits ({len(dataset.splits[0].x_train)} train rows), {args.epochs} epochs per trial, configs varied; "
          f"{os.cpu_count()} CPUs, load average {load[0]:.1f}; states {states}"
          f"{'; gradient registry NOT cleaned' if args.keep_custom_gradients else ''}")
    header = (f"{'trials':>6} {'RSS MiB':>8} {'after gc':>8} {'vs 1 trial':>10} {'per trial since prev':>20} "
              f"{'last trial s':>12} {'elapsed s':>9}")
    print(header)
    print("-" * len(header))
    first = rows[1][2] if len(rows) > 1 else baseline
    previous = None
    for trials, rss, after_gc, seconds, elapsed in rows:
        growth = "" if trials == 0 else f"{(after_gc - first) / MiB:+.1f}"
        slope = ""
        if previous is not None and trials > 1:
            slope = f"{(after_gc - previous[1]) / MiB / (trials - previous[0]):+.2f}"
        print(f"{trials:>6} {rss / MiB:>8.1f} {after_gc / MiB:>8.1f} {growth:>10} {slope:>20} "
              f"{seconds:>12.2f} {elapsed:>9}")
        previous = (trials, after_gc)
    print("trials 0 = after importing TensorFlow and loading digits; 'vs 1 trial' and the slope use the "
          "after-gc column (MiB)")


if __name__ == "__main__":
    main()
