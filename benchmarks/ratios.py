"""Fast-trial ratios, measured side by side in one run: the table of issue 9.

    .venv/bin/python benchmarks/ratios.py            # the full table (about 15-25 min on 2 busy cores)
    .venv/bin/python benchmarks/ratios.py --quick    # a smoke version of every row (a few minutes)

Rows (every figure is a ratio of two things measured in this same run, so a busy
machine slows both sides; the machine and its load average are printed with the table):

1. Trainer vs plain ``model.fit`` (and, at batch 32 and 128, vs the "tuned fit": ``fit`` compiled
   with ``steps_per_execution=32, jit_compile=True``): samples/s at batch 32, 128, 512 on a 784-256-256-10
   MLP (relu, adam 1e-3) on ``mnist_5k`` (4,000 training / 1,000 validation rows),
   validating every epoch as a trial does. Trainer: ``search.training.fit_split`` (its own
   settings); plain: the same model compiled with Keras defaults and ``fit``. samples/s =
   training rows / median epoch time after the first (tracing) epoch; runs interleaved,
   one per seed (0, 1, 2), also giving the final validation accuracy of each side. Each side
   shuffles its own way, so their accuracies differ by seed noise; a third run per seed,
   plain ``fit`` fed exactly the trainer's batches (same initial weights, same rows in the
   same order), leaves only the difference in how the two loops compute.
2. A short study (8 trials of ``studies/digits_mlp.yaml`` at 5 epochs, 1 worker, storage, MLflow
   and the export on) vs a bare Keras ``fit`` loop training the same configs plus one refit of the
   best (the export's retraining): the fixed cost of a user's first studies. Then a tuneforge
   study (``studies/digits_mlp.yaml``: TPE, median pruner, 30 trials, study storage and MLflow
   on, ``tuneforge run --no-export`` in a fresh process), with 1 worker and with the workers
   the file ships with (2), each vs a bare loop training the configs that run trained (pruned
   ones for the epochs they ran; one process, no storage, no tracking; a fresh process too, so
   both pay Python and TensorFlow start-up). Two bare loops for the 1-worker run: Keras ``fit``
   with ``EarlyStopping`` (what one writes by hand) and tuneforge's own trainer (so the
   difference is service overhead alone).
3. 2 workers vs 1 on a 24-point grid study (both train the same configs): trials per hour,
   from the first trial's start to the last trial's end, and over the whole wall clock. With
   12 points of about 2 s each, the last trial of one worker running alone (the other idle)
   moved the ratio between 1.33x and 1.94x from run to run; 24 points halve that tail's weight.
4. Training GFLOP/s at batch 128 (6 x parameters x training samples/s, trainer settings,
   no validation) vs the measured float32 matrix-product GFLOP/s (``tf.matmul``), with the CPU's
   vector flags (the issue's 45% bar is for an AVX-512 machine), for an 8-epoch fit (256 steps:
   the trainer runs its graph loop without XLA, whose compile a short fit would not repay) and a
   32-epoch fit (1,024 steps: the trainer compiles each epoch with XLA, as every fit from
   ``XLA_MIN_STEPS`` planned steps does). The bar applies to the long fit's steady state.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Iterable, Sequence
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "-1")
ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

MLP = {"n_layers": 2, "units": 256, "activation": "relu", "optimizer": "adam", "learning_rate": 1e-3, "patience": 0}
SEEDS = (0, 1, 2)


# --- the machine -------------------------------------------------------------------------
def machine() -> dict[str, str]:
    """Cores, CPU model, Python, TensorFlow and Keras versions, load average now."""
    model = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    tf, keras = _tf()
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cores = os.cpu_count() or 1
    return {"cores": str(cores), "cpu": model, "flags": cpu_flags(), "python": platform.python_version(),
            "tensorflow": tf.__version__, "keras": keras.__version__, "load": load_average()}


VECTOR_FLAGS = ("avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_bf16", "avx512_vnni", "amx_bf16",
                "amx_tile")


def cpu_flags() -> str:
    """The CPU's vector-math flags (AVX2, FMA, AVX-512, AMX) from /proc/cpuinfo; "no AVX-512" said aloud."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                have = set(line.split(":", 1)[1].split())
                shown = [f for f in VECTOR_FLAGS if f in have]
                return " ".join(shown) + ("" if "avx512f" in have else " (no AVX-512)")
    except OSError:
        pass
    return "unknown"


def print_table(columns: Sequence[str], rows: Iterable[Sequence[str]]) -> None:
    """A Markdown table on stdout (the form the README quotes)."""
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for row in rows:
        print("| " + " | ".join(row) + " |")


def load_average() -> str:
    return " ".join(f"{v:.1f}" for v in os.getloadavg())


def _tf() -> tuple[Any, Any]:
    from search._quiet import import_tensorflow_quietly

    import_tensorflow_quietly()
    import keras
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")
    return tf, keras


# --- 4. the matrix-product peak ------------------------------------------------------------
def matmul_gflops(n: int = 2048, repeats: int = 10) -> float:
    """float32 ``tf.matmul`` of two n x n matrices: 2 n^3 / seconds (median of ``repeats``), in GFLOP/s."""
    tf, _ = _tf()
    a = tf.random.stateless_uniform((n, n), seed=(1, 2), dtype=tf.float32)
    b = tf.random.stateless_uniform((n, n), seed=(3, 4), dtype=tf.float32)
    tf.matmul(a, b).numpy()  # warm up (thread pools, kernels)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        tf.matmul(a, b).numpy()
        times.append(time.perf_counter() - start)
    return 2 * n ** 3 / statistics.median(times) / 1e9


# --- 1. trainer vs plain fit -------------------------------------------------------------
@dataclass
class FitSample:
    """One timed fit: training samples/s after the first epoch, the first epoch's seconds, final val accuracy."""

    samples_per_s: float
    first_epoch_s: float
    val_accuracy: float
    n_params: int = 0


def _per_epoch(start: float, ends: list[float], n_rows: int) -> tuple[float, float]:
    if len(ends) < 2:
        raise ValueError("time at least 2 epochs: the first one traces and compiles")
    later = statistics.median(b - a for a, b in zip(ends, ends[1:]))
    return n_rows / later, ends[0] - start


def fit_trainer(dataset: Any, config: dict, batch: int, epochs: int, seed: int) -> FitSample:
    """tuneforge's trainer (``fit_split``: its in-graph loop, XLA for long fits) on split 0, validating every epoch."""
    from search.training import fit_split

    ends: list[float] = []
    start = time.perf_counter()
    model, watch = fit_split({**config, "batch_size": batch, "epochs": epochs, "patience": 0},
                             dataset.splits[0], dataset=dataset, model_kind="mlp", metric="val_accuracy",
                             direction="maximize", report=lambda epoch, logs: ends.append(time.perf_counter()),
                             seed=seed, search_path=None)
    if watch.failure or len(ends) != epochs:
        raise RuntimeError(f"trainer stopped after {len(ends)} epochs: {watch.failure}")
    rate, first = _per_epoch(start, ends, len(dataset.splits[0].x_train))
    return FitSample(rate, first, watch.history[-1]["val_accuracy"], int(model.count_params()))


TUNED_FIT = {"steps_per_execution": 32, "jit_compile": True}  # the "tuned fit" baseline of issue 20


def _plain_model(dataset: Any, config: dict, seed: int, **compile_settings: Any) -> Any:
    """The trainer's model for ``config`` and ``seed`` (same initial weights), compiled with Keras defaults
    (or ``compile_settings``, e.g. :data:`TUNED_FIT`)."""
    _, keras = _tf()
    from search.models import build_model, compile_model

    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)
    split, info = dataset.splits[0], dataset.info
    stats = (split.mean, split.variance) if split.mean is not None else None
    model = build_model("mlp", config, task=info.task, input_shape=info.input_shape, n_outputs=info.n_outputs,
                        stats=stats)
    compile_model(model, config, task=info.task, **compile_settings)  # default: 1 step per call, jit "auto"
    return model


def fit_plain(dataset: Any, config: dict, batch: int, epochs: int, seed: int, tuned: bool = False) -> FitSample:
    """The same model compiled with Keras defaults (``tuned``: :data:`TUNED_FIT`) and a plain ``model.fit``
    (validation every epoch)."""
    _, keras = _tf()
    split = dataset.splits[0]
    ends: list[float] = []
    timer = keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: ends.append(time.perf_counter()))
    start = time.perf_counter()
    model = _plain_model(dataset, config, seed, **(TUNED_FIT if tuned else {}))
    history = model.fit(split.x_train, split.y_train, validation_data=(split.x_val, split.y_val), epochs=epochs,
                        batch_size=batch, shuffle=True, verbose=0, callbacks=[timer])
    rate, first = _per_epoch(start, ends, len(split.x_train))
    return FitSample(rate, first, float(history.history["val_accuracy"][-1]), int(model.count_params()))


def fit_plain_same_batches(dataset: Any, config: dict, batch: int, epochs: int, seed: int) -> float:
    """Final val accuracy of plain ``fit`` fed exactly the trainer's batches (its seeded epoch orders, no shuffle).

    Same initial weights and the same batches in the same order as :func:`fit_trainer` with this seed:
    what is left of the accuracy difference is the loops' arithmetic, not which rows each batch drew.
    """
    import numpy as np

    from search.training._loop import epoch_order

    split = dataset.splits[0]
    model = _plain_model(dataset, config, seed)
    rng = np.random.default_rng(seed)
    history: dict = {}
    for epoch in range(epochs):
        rows = epoch_order(rng, len(split.x_train), batch).ravel()
        history = model.fit(split.x_train[rows], split.y_train[rows], validation_data=(split.x_val, split.y_val),
                            batch_size=batch, initial_epoch=epoch, epochs=epoch + 1, shuffle=False,
                            verbose=0).history
    return float(history["val_accuracy"][-1])


@dataclass
class SpeedRow:
    """One batch size: fits of each side, one per seed."""

    batch: int
    trainer: list[FitSample] = field(default_factory=list)
    plain: list[FitSample] = field(default_factory=list)
    tuned: list[FitSample] = field(default_factory=list)  # fit with TUNED_FIT (steps_per_execution=32, XLA)
    same_batches: list[float] = field(default_factory=list)  # plain fit's final val accuracy on the trainer's batches

    def ratio(self, baseline: str = "plain") -> float:
        """Median over seeds of (trainer samples/s / baseline samples/s), each pair run back to back;
        ``baseline`` is "plain" (Keras defaults) or "tuned" (:data:`TUNED_FIT`)."""
        other = self.plain if baseline == "plain" else self.tuned
        return statistics.median(t.samples_per_s / p.samples_per_s for t, p in zip(self.trainer, other))

    def accuracy_gap_points(self) -> float:
        """Mean final validation accuracy, trainer minus plain, in percentage points."""
        return 100 * (statistics.mean(s.val_accuracy for s in self.trainer)
                      - statistics.mean(s.val_accuracy for s in self.plain))


def trainer_vs_fit(dataset: Any, batches: list[int], seeds: tuple[int, ...], epochs: int,
                   config: dict = MLP, same_batches: bool = True, tuned: tuple[int, ...] = ()) -> list[SpeedRow]:
    """Interleaved trainer / plain fits, one of each per (seed, batch), and a tuned fit for the batches in
    ``tuned``; with ``same_batches``, also plain fit fed the trainer's batches (accuracy only: one ``fit``
    call per epoch is not a speed baseline)."""
    rows = {b: SpeedRow(b) for b in batches}
    fit_trainer(dataset, config, 128, 2, 0)  # warm TensorFlow up (kernels, thread pools) for both sides
    for seed in seeds:
        for batch in batches:
            sides = ["trainer", "plain", *(["tuned"] if batch in tuned else [])]
            shift = seed % len(sides)  # rotate the order: load changes hit every side alike
            for name in sides[shift:] + sides[:shift]:
                fit = fit_trainer if name == "trainer" else fit_plain
                extra = {"tuned": True} if name == "tuned" else {}
                getattr(rows[batch], name).append(fit(dataset, config, batch, epochs, seed, **extra))
            if same_batches:
                rows[batch].same_batches.append(fit_plain_same_batches(dataset, config, batch, epochs, seed))
    return list(rows.values())


def training_samples_per_s(dataset: Any, batch: int, epochs: int, config: dict = MLP) -> tuple[float, int]:
    """Training-only samples/s of the trainer's loop (validation on 8 rows: next to nothing), and the parameters."""
    from dataclasses import replace

    from search.data import Split

    split = dataset.splits[0]
    no_validation = Split(split.x_train, split.y_train, split.x_val[:8], split.y_val[:8], split.mean, split.variance)
    sample = fit_trainer(replace(dataset, splits=(no_validation,)), config, batch, epochs, 0)
    return sample.samples_per_s, sample.n_params


# --- 2 and 3. studies and bare loops ------------------------------------------------------
def digits_file() -> dict:
    """``studies/digits_mlp.yaml`` as it ships."""
    import yaml

    return yaml.safe_load((ROOT / "studies" / "digits_mlp.yaml").read_text())


def digits_study(trials: int, workers: int, *, epochs: int | None = None) -> dict:
    """``studies/digits_mlp.yaml`` with this budget (``epochs`` overrides its 30 for a quick run)."""
    study = digits_file()
    study["name"] = f"bench-digits-{workers}w"
    study["search"].update({"trials": trials, "workers": workers, "timeout": "2h"})
    if epochs is not None:
        study["fixed"]["epochs"] = epochs
    study.pop("export", None)
    return study


def grid_study(epochs: int, units: list[int], learning_rates: list[float], workers: int) -> dict:
    """A digits grid: every run of it trains exactly the same configs, whatever the workers."""
    return {
        "name": f"bench-grid-{workers}w",
        "data": {"dataset": "digits", "validation": 0.2, "test": 0.2, "seed": 42},
        "space": {"units": {"type": "int", "low": min(units), "high": max(units), "grid": units},
                  "learning_rate": {"type": "float", "low": min(learning_rates), "high": max(learning_rates),
                                    "grid": learning_rates}},
        "fixed": {"n_layers": 2, "epochs": epochs, "patience": 0, "batch_size": 32},
        "search": {"algorithm": "grid", "pruner": "none", "trials": len(units) * len(learning_rates),
                   "workers": workers, "seed": 42, "timeout": "2h"},
    }


@dataclass
class StudyRun:
    """A ``tuneforge run`` in a fresh process: wall clock and what each finished trial trained."""

    seconds: float
    trials: list[dict]  # number, state, value, config, epochs, start, end
    folder: Path
    started: float = 0.0  # time.time() when the process was started

    @property
    def phases(self) -> str:
        """Start-up (process start to first trial start), trials, tail (last trial end to exit)."""
        first, last = min(t["start"] for t in self.trials), max(t["end"] for t in self.trials)
        return (f"start-up {first - self.started:.1f} s, trials {last - first:.1f} s, "
                f"tail {self.started + self.seconds - last:.1f} s")

    @property
    def busy_seconds(self) -> float:
        """From the first trial's start to the last trial's end."""
        return max(t["end"] for t in self.trials) - min(t["start"] for t in self.trials)


def run_study(study: dict, folder: Path, export: bool = False, extra: Sequence[str] = ()) -> StudyRun:
    """``tuneforge run STUDY --no-export [extra]`` (``export``: with the export, to ``folder/model``) with its
    own TUNEFORGE_HOME (study storage + local MLflow store)."""
    import yaml

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{study['name']}.yaml"
    path.write_text(yaml.safe_dump(study, sort_keys=False))
    home = folder / ".tuneforge"
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env["TUNEFORGE_HOME"] = str(home)
    storage = f"journal:{home / 'optuna.journal'}"
    started = time.time()
    start = time.perf_counter()
    export_args = ["--export-dir", str(folder / "model")] if export else ["--no-export"]
    proc = subprocess.run([sys.executable, "-m", "search.cli", "run", str(path), *export_args,
                           "--storage", storage, *extra], cwd=folder, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"tuneforge run {' '.join(extra)} failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n"
                           f"{proc.stderr[-3000:]}")
    return StudyRun(seconds, _trained(storage, study["name"]), folder, started)


def _trained(storage_url: str, name: str) -> list[dict]:
    import optuna

    from search.storage import get_storage

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(study_name=name, storage=get_storage(storage_url))
    out = []
    for t in study.get_trials(deepcopy=False):
        if t.state.is_finished() and "duplicate_of" not in t.user_attrs and t.datetime_complete is not None:
            out.append({"number": t.number, "state": t.state.name, "value": t.value,
                        "config": json.loads(t.user_attrs["config"]), "epochs": int(t.user_attrs.get("epochs", 0)),
                        "start": t.datetime_start.timestamp(), "end": t.datetime_complete.timestamp()})
    return out


def bare_loop(study_path: Path, trials: list[dict], seed: int, mode: str,
              refit: dict | None = None) -> tuple[float, list[float | None]]:
    """Train ``trials``' configs in a fresh process with no storage or tracking; (wall seconds, objectives).

    ``mode``: "fit" (Keras ``fit`` + ``EarlyStopping``, by hand) or "trainer" (tuneforge's ``train_config``);
    ``refit``: then train this config (the best trial's) once more, as an export does; its objective last.
    """
    job = {"study": str(study_path), "seed": seed, "mode": mode, "refit": refit,
           "configs": [{**t["config"], "epochs": t["epochs"]} if t["state"] == "PRUNED" else t["config"]
                       for t in trials]}
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(job, f)
    try:
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--bare-loop", f.name],
                              capture_output=True, text=True, cwd=ROOT)
        seconds = time.perf_counter() - start
    finally:
        os.unlink(f.name)
    if proc.returncode != 0:
        raise RuntimeError(f"bare loop failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return seconds, json.loads(proc.stdout.strip().splitlines()[-1])


def _bare_loop_main(job_path: str) -> None:
    """The bare loop's process: load the data once, train every config (and the refit), print the objectives."""
    job = json.loads(Path(job_path).read_text())
    _, keras = _tf()
    from search.models import build_model, compile_model, value
    from search.driver import dataset_for
    from search.spec import load_study
    from search.training import train_config

    study = load_study(job["study"])
    dataset = dataset_for(study)

    def fit(config: dict) -> float | None:
        if job["mode"] == "trainer":
            return train_config(config, dataset, model_kind=study.spec.model, metric=study.metric,
                                direction=study.direction, seed=job["seed"], search_path=study.base_dir).objective
        keras.backend.clear_session()
        keras.utils.set_random_seed(job["seed"])
        split, info = dataset.splits[0], dataset.info
        stats = (split.mean, split.variance) if split.mean is not None else None
        model = build_model(study.spec.model, config, task=info.task, input_shape=info.input_shape,
                            n_outputs=info.n_outputs, stats=stats, search_path=study.base_dir)
        compile_model(model, config, task=info.task)
        mode = "max" if study.direction == "maximize" else "min"
        patience = int(value(config, "patience"))
        callbacks = [keras.callbacks.EarlyStopping(study.metric, patience=patience, mode=mode,
                                                   restore_best_weights=True)] if patience else []
        history = model.fit(split.x_train, split.y_train, validation_data=(split.x_val, split.y_val),
                            epochs=int(value(config, "epochs")), batch_size=int(value(config, "batch_size")),
                            verbose=0, callbacks=callbacks).history[study.metric]
        return float(max(history) if mode == "max" else min(history))

    objectives = [fit(config) for config in job["configs"]]
    if job.get("refit") is not None:  # the best trial's config once more, as the export retrains it
        objectives.append(fit(job["refit"]))
    print(json.dumps(objectives))


# --- the table ----------------------------------------------------------------------------
def _fmt(value: float, digits: int = 2) -> str:
    return f"{value:.{digits}f}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Fast-trial ratios (issue 9), measured side by side.")
    parser.add_argument("--quick", action="store_true", help="a smoke version of every row (small budgets)")
    parser.add_argument("--bare-loop", metavar="JOB", help=argparse.SUPPRESS)
    parser.add_argument("--skip", nargs="*", default=[], choices=["trainer", "short", "study", "workers", "gflops"],
                        help="rows to leave out")
    args = parser.parse_args(argv)
    if args.bare_loop:
        _bare_loop_main(args.bare_loop)
        return
    quick = args.quick
    info = machine()
    print(f"machine: {info['cores']} cores, {info['cpu']} [{info['flags']}]; Python {info['python']}, "
          f"TensorFlow {info['tensorflow']}, Keras {info['keras']}; load average at start {info['load']}", flush=True)
    rows: list[tuple[str, str, str, str, str]] = []  # figure, tuneforge, baseline, ratio, bar

    def emit(*row: str) -> None:
        rows.append(row)
        print("  " + " | ".join(row), flush=True)

    from search.data import load_data

    if "gflops" not in args.skip:
        peak = matmul_gflops(1024 if quick else 2048, 5 if quick else 10)
        mnist = load_data("mnist_5k", test=0, validation=0.2)
        bar = (">= 45% on an AVX-512 machine" if "no AVX-512" not in info["flags"]
               else "(45% bar is for AVX-512; not this machine)")
        from search.training._trainer import steps_per_epoch, uses_xla

        n_rows = len(mnist.splits[0].x_train)
        for epochs in (8, 32):  # a short fit (graph mode) and a long one (XLA): each a second or two
            xla = uses_xla(n_rows, 128, epochs)
            rate, params = training_samples_per_s(mnist, 128, epochs)
            achieved = 6 * params * rate / 1e9
            emit(f"training GFLOP/s at batch 128 (6 x params x samples/s), {epochs}-epoch fit "
                 f"({epochs * steps_per_epoch(n_rows, 128):,} steps: {'XLA' if xla else 'graph mode, no XLA'}) "
                 f"vs float32 matmul peak; CPU flags: {info['flags']}",
                 f"{achieved:.1f} GFLOP/s ({rate:,.0f} samples/s)", f"{peak:.1f} GFLOP/s",
                 f"{achieved / peak:.1%}", bar if xla else "(short fit: the trainer skips XLA's compile)")

    if "trainer" not in args.skip:
        mnist = load_data("mnist_5k", test=0, validation=0.2)
        epochs = 3 if quick else 8
        speed = trainer_vs_fit(mnist, [32, 128, 512], SEEDS[:1] if quick else SEEDS, epochs, tuned=(32, 128))
        bars = {32: ">= 2.0x", 128: ">= 1.3x", 512: "(none)"}
        for row in speed:
            p = statistics.median(s.samples_per_s for s in row.plain)
            t = statistics.median(s.samples_per_s for s in row.trainer)
            first = statistics.median(s.first_epoch_s for s in row.trainer)
            emit(f"batch {row.batch} samples/s: trainer ({epochs}-epoch fit) vs plain fit",
                 f"{t:,.0f} (1st epoch {first:.1f} s)",
                 f"{p:,.0f} (1st epoch {statistics.median(s.first_epoch_s for s in row.plain):.1f} s)",
                 f"{row.ratio():.2f}x", bars[row.batch])
            if row.tuned:
                tuned_rate = statistics.median(s.samples_per_s for s in row.tuned)
                tuned_first = statistics.median(s.first_epoch_s for s in row.tuned)
                tuned_acc = statistics.mean(s.val_accuracy for s in row.tuned)
                emit(f"batch {row.batch} samples/s: trainer vs tuned fit (steps_per_execution=32, jit_compile=True)",
                     f"{t:,.0f} (1st epoch {first:.1f} s)", f"{tuned_rate:,.0f} (1st epoch {tuned_first:.1f} s)",
                     f"{row.ratio('tuned'):.2f}x", ">= 1.2x")
                tuned_sd = statistics.stdev(s.val_accuracy for s in row.tuned) if len(row.tuned) > 1 else 0.0
                emit("  final val accuracy, trainer vs tuned fit (mean over seeds)",
                     f"{statistics.mean(s.val_accuracy for s in row.trainer):.4f}",
                     f"{tuned_acc:.4f} (seed-to-seed sd {100 * tuned_sd:.2f} points)",
                     f"{100 * (statistics.mean(s.val_accuracy for s in row.trainer) - tuned_acc):+.2f} points",
                     "within the seed-to-seed spread")
            ta = statistics.mean(s.val_accuracy for s in row.trainer)
            pa = statistics.mean(s.val_accuracy for s in row.plain)
            spread = statistics.stdev(s.val_accuracy for s in row.plain) if len(row.plain) > 1 else 0.0
            emit(f"  final val accuracy, same fits (mean of {len(row.trainer)} seeds; each side shuffles its own way)",
                 f"{ta:.4f}", f"{pa:.4f} (seed-to-seed sd {100 * spread:.2f} points)",
                 f"{row.accuracy_gap_points():+.2f} points", "within 0.5 points")
            if row.same_batches:
                sa = statistics.mean(row.same_batches)
                emit(f"  final val accuracy, plain fit fed the trainer's batches (same init and order, "
                     f"mean of {len(row.same_batches)} seeds)", f"{ta:.4f}", f"{sa:.4f}",
                     f"{100 * (ta - sa):+.2f} points", "within 0.5 points")

    with tempfile.TemporaryDirectory(prefix="tuneforge-ratios-") as tmp:
        folder = Path(tmp)
        if "short" not in args.skip:
            study = digits_study(4 if quick else 8, 1, epochs=3 if quick else 5)
            study["name"] = "bench-digits-short"
            run = run_study(study, folder / "short", export=True)
            path = run.folder / f"{study['name']}.yaml"
            complete = [t for t in run.trials if t["state"] == "COMPLETE"]
            best = max(complete, key=lambda t: t["value"])["config"] if complete else None
            bare, _ = bare_loop(path, run.trials, study["search"]["seed"], "fit", refit=best)
            emit(f"{len(run.trials)}-trial digits study ({study['fixed']['epochs']} epochs, 1 worker, storage + "
                 f"MLflow + export) vs bare loop (Keras fit, the same configs + 1 refit)",
                 f"{run.seconds:.1f} s ({run.phases})", f"{bare:.1f} s", f"{run.seconds / bare:.2f}x", "<= 1.10x")
        if "study" not in args.skip:
            n = 6 if quick else 30
            shipped = int(digits_file()["search"]["workers"])
            for workers in sorted({1, shipped}):
                study = digits_study(n, workers, epochs=5 if quick else None)
                run = run_study(study, folder / f"study-{workers}w")
                path = run.folder / f"{study['name']}.yaml"
                seed = study["search"]["seed"]
                bare_fit, _ = bare_loop(path, run.trials, seed, "fit")
                how = f"{workers} worker{'s' * (workers > 1)}" + (", as shipped" if workers == shipped else "")
                emit(f"{n}-trial studies/digits_mlp.yaml ({how}; tuneforge run, storage + MLflow) vs bare loop "
                     f"(one process, Keras fit + EarlyStopping, the same configs)",
                     f"{run.seconds:.1f} s ({run.phases})", f"{bare_fit:.1f} s", f"{run.seconds / bare_fit:.2f}x",
                     "<= 0.9x")
                if workers != 1:
                    continue
                bare_trainer, objectives_trainer = bare_loop(path, run.trials, seed, "trainer")
                same = sum(1 for t, o in zip(run.trials, objectives_trainer)
                           if t["state"] == "COMPLETE" and o is not None and abs(t["value"] - o) < 1e-6)
                complete = sum(t["state"] == "COMPLETE" for t in run.trials)
                emit("  same study vs bare loop with tuneforge's trainer (service overhead alone)",
                     f"{run.seconds:.1f} s", f"{bare_trainer:.1f} s", f"{run.seconds / bare_trainer:.2f}x",
                     f"({len(run.trials)} trained, {same}/{complete} objectives reproduced exactly)")
        if "workers" not in args.skip:
            units = [16, 32] if quick else [32, 64, 128, 256]
            rates = [3e-3, 1e-2] if quick else [1e-3, 2e-3, 3e-3, 5e-3, 1e-2, 2e-2]  # 24 points: a short tail
            epochs = 3 if quick else 15
            one = run_study(grid_study(epochs, units, rates, 1), folder / "grid-1")
            two = run_study(grid_study(epochs, units, rates, 2), folder / "grid-2")
            n = len(one.trials)
            emit(f"2 workers vs 1 on {info['cores']} cores: trials/hour ({n}-point digits grid, first start to last end)",
                 f"{len(two.trials) / two.busy_seconds * 3600:,.0f}", f"{n / one.busy_seconds * 3600:,.0f}",
                 f"{(len(two.trials) / two.busy_seconds) / (n / one.busy_seconds):.2f}x", ">= 1.7x")
            emit("  same, over the whole wall clock (process start-up included)",
                 f"{len(two.trials) / two.seconds * 3600:,.0f}", f"{n / one.seconds * 3600:,.0f}",
                 f"{(len(two.trials) / two.seconds) / (n / one.seconds):.2f}x", "")

    print()
    print(f"load average at end {load_average()}")
    print_table(("figure", "tuneforge", "baseline", "ratio", "bar"), rows)


if __name__ == "__main__":
    main()
