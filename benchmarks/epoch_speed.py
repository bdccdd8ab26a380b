"""Seconds per epoch: tuneforge's trainer vs a plain ``model.fit`` on the same model and data.

The model is a 784-256-256-10 MLP (relu, adam 1e-3) on ``mnist_5k`` with 4,000 training
and 1,000 validation rows (``test=0``, ``validation=0.2``); every epoch validates.

* ``tuneforge``: ``fit_split`` with fixed epochs and patience 0 (its own in-graph loop; XLA
  for fits of >= 1,000 planned steps); epoch times come from its ``report`` callback.
* ``plain fit``: the same ``build_model`` model compiled with Keras defaults
  (``steps_per_execution=1``, ``jit_compile="auto"``, which is XLA on CPU with TensorFlow).
* ``plain fit, no XLA``: as above with ``jit_compile=False``, to separate the two effects.

The first epoch (tracing, XLA compilation; for tuneforge also clear_session, build and
compile) is reported on its own; "s/epoch" is the median of the later epochs over all
repeats. The machine's load average is printed: other processes on the same cores
slow every row, so compare rows of one run, not runs.

    .venv/bin/python benchmarks/epoch_speed.py [--epochs 8] [--repeats 3] [--batch 32 128]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "-1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from search._quiet import import_tensorflow_quietly  # noqa: E402

import_tensorflow_quietly()

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from search.data import load_data  # noqa: E402
from search.models import build_model, loss_and_metrics  # noqa: E402
from search.training import fit_split  # noqa: E402

CONFIG = {"n_layers": 2, "units": 256, "activation": "relu", "optimizer": "adam", "learning_rate": 1e-3,
          "patience": 0}


class EpochEnds(keras.callbacks.Callback):
    def __init__(self) -> None:
        super().__init__()
        self.ends: list[float] = []

    def on_epoch_end(self, epoch, logs=None) -> None:
        self.ends.append(time.perf_counter())


def run_tuneforge(dataset, batch: int, epochs: int) -> tuple[float, list[float], float]:
    ends: list[float] = []
    start = time.perf_counter()
    model, watch = fit_split({**CONFIG, "batch_size": batch, "epochs": epochs}, dataset.splits[0], dataset=dataset,
                             model_kind="mlp", metric="val_accuracy", direction="maximize",
                             report=lambda epoch, logs: ends.append(time.perf_counter()), seed=0, search_path=None)
    assert len(ends) == epochs, f"stopped after {len(ends)} epochs: {watch.failure}"
    return ends[0] - start, [b - a for a, b in zip(ends, ends[1:])], watch.history[-1]["val_accuracy"]


def run_plain(dataset, batch: int, epochs: int, jit_compile) -> tuple[float, list[float], float]:
    keras.backend.clear_session()
    keras.utils.set_random_seed(0)
    split, info = dataset.splits[0], dataset.info
    start = time.perf_counter()
    model = build_model("mlp", CONFIG, task=info.task, input_shape=info.input_shape, n_outputs=info.n_outputs)
    loss, metrics = loss_and_metrics(info.task)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-3), loss=loss, metrics=metrics,
                  jit_compile=jit_compile)
    timer = EpochEnds()
    history = model.fit(split.x_train, split.y_train, validation_data=(split.x_val, split.y_val), epochs=epochs,
                        batch_size=batch, shuffle=True, verbose=0, callbacks=[timer])
    ends = timer.ends
    return ends[0] - start, [b - a for a, b in zip(ends, ends[1:])], history.history["val_accuracy"][-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch", type=int, nargs="+", default=[32, 128])
    args = parser.parse_args()

    dataset = load_data("mnist_5k", test=0, validation=0.2)
    split = dataset.splits[0]
    assert split.x_train.shape == (4000, 784), split.x_train.shape
    runners = {
        "tuneforge": lambda b: run_tuneforge(dataset, b, args.epochs),
        "plain fit": lambda b: run_plain(dataset, b, args.epochs, "auto"),
        "plain fit, no XLA": lambda b: run_plain(dataset, b, args.epochs, False),
    }
    run_tuneforge(dataset, 128, 2)  # warm up TensorFlow itself (kernels, thread pools)

    results: dict[tuple[int, str], dict[str, list[float]]] = {}
    for _ in range(args.repeats):
        for batch in args.batch:
            for name, run in runners.items():  # interleaved, so load changes hit every row alike
                first, later, val = run(batch)
                row = results.setdefault((batch, name), {"first": [], "later": [], "val": []})
                row["first"].append(first)
                row["later"].extend(later)
                row["val"].append(val)

    load = os.getloadavg()
    print(f"mnist_5k: {len(split.x_train)} train / {len(split.x_val)} validation rows, 784-256-256-10 relu adam; "
          f"{args.epochs} epochs x {args.repeats} repeats; TF {tf.__version__}, "
          f"Keras {keras.__version__}, {os.cpu_count()} CPUs, load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")
    header = (f"{'batch':>5}  {'trainer':<18} {'steps/ep':>8} {'first epoch s':>13} {'s/epoch':>8} {'min':>6} "
              f"{'max':>6} {'vs plain fit':>12} {'vs no XLA':>9} {'val_acc':>7}")
    print(header)
    print("-" * len(header))
    for batch in args.batch:
        plain = statistics.median(results[(batch, "plain fit")]["later"])
        plain_nojit = statistics.median(results[(batch, "plain fit, no XLA")]["later"])
        for name in runners:
            row = results[(batch, name)]
            per_epoch = statistics.median(row["later"])
            print(f"{batch:>5}  {name:<18} {-(-len(split.x_train) // batch):>8} "
                  f"{statistics.median(row['first']):>13.2f} {per_epoch:>8.3f} {min(row['later']):>6.3f} "
                  f"{max(row['later']):>6.3f} {per_epoch / plain:>11.2f}x {per_epoch / plain_nojit:>8.2f}x "
                  f"{statistics.mean(row['val']):>7.3f}")
    print("s/epoch: median of epochs 2..N (train + validation); 'vs' columns: this row's s/epoch divided by "
          "the plain fit's (< 1 means faster)")


if __name__ == "__main__":
    main()
