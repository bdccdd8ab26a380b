"""Train one config on one dataset and report every epoch.

A config's result depends only on (config, data, seed): the same seed gives the
same metrics on CPU. Keras state is cleared before every model so a worker can
train hundreds of configs in one process. Failures (NaN loss, a builder that
raises) end the trial as FAIL with the reason; they never escape to the caller.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from search.data import Dataset, Split
from search.models import build_model, compile_model, value
from search.states import TrialState
from search.training._callbacks import EpochWatch, Report
from search.training._loop import fit_in_graph
from search.training._result import TrainResult
from spaces import TuneforgeError

MAX_STEPS_PER_EXECUTION = 32
VALIDATION_BATCH = 1024  # validation metrics are means over rows: the batch only sets the speed
# XLA's compile costs about 1 s per model on a 2-core CPU; on the 784-256-256-10 MLP at batch 32 a
# step then took about 1.0 ms instead of 2.7 ms (measured side by side in one process), less saved on
# smaller models: planned steps from which the trainer's loop compiles its step with XLA
XLA_MIN_STEPS = 1000
# Layers that draw random numbers in every training step. XLA on the CPU draws them far slower than
# graph mode (digits, 64-128-64-10 MLP, batch 32, AVX-512 Xeon: 1.35 ms a step with dropout 0.1
# against 0.41 ms in graph mode; 0.14 ms against 0.34 ms without dropout), so their fits skip XLA.
RANDOM_LAYERS = ("Dropout", "GaussianDropout", "GaussianNoise", "AlphaDropout", "SpatialDropout1D",
                 "SpatialDropout2D", "SpatialDropout3D")


def steps_per_epoch(n_rows: int, batch_size: int) -> int:
    """Batches in one epoch (the last one partial in ``fit``, topped up in the trainer's loop)."""
    return max(1, -(-n_rows // max(1, batch_size)))


def uses_xla(n_rows: int, batch_size: int, epochs: int, *, draws_random: bool = False) -> bool:
    """Whether the trainer's loop compiles its step with XLA.

    Only when the fit is long enough to repay the compile, and never for a model that draws
    random numbers each step (dropout, noise layers: see ``RANDOM_LAYERS``).
    """
    return not draws_random and steps_per_epoch(n_rows, batch_size) * max(1, epochs) >= XLA_MIN_STEPS


def draws_random(model: Any) -> bool:
    """Whether ``model`` has a layer that draws random numbers in training (dropout, noise), nested ones too."""
    return any(type(layer).__name__ in RANDOM_LAYERS or draws_random(layer) for layer in getattr(model, "layers", ()))


def fast_settings(n_rows: int, batch_size: int) -> dict[str, Any]:
    """The compile settings for a user's builder, which trains with ``model.fit``: same math, less overhead.

    Up to 32 batches per graph call (fewer Python round trips); no XLA, since a user's
    model may hold ops XLA cannot compile. The built-in models train in the trainer's own
    loop instead (:func:`search.training._loop.fit_in_graph`; XLA for long fits, :func:`uses_xla`).
    """
    return {"steps_per_execution": min(MAX_STEPS_PER_EXECUTION, steps_per_epoch(n_rows, batch_size)),
            "jit_compile": False}


def _gradient_registry() -> dict[str, Any] | None:
    """TensorFlow's global gradient registry (a private dict), or None where it is not found."""
    try:
        from tensorflow.python.framework import ops

        registry = ops._gradient_registry._registry  # noqa: SLF001
    except (ImportError, AttributeError):
        return None
    return registry if isinstance(registry, dict) else None


def _custom_gradients() -> set[str]:
    registry = _gradient_registry()
    return {name for name in registry if name.startswith("CustomGradient-")} if registry is not None else set()


def _forget_custom_gradients(before: set[str]) -> None:
    """Unregister the ``tf.custom_gradient`` functions a fit traced (a per-trial leak otherwise).

    Keras's TensorFlow optimizer all-reduces gradients through ``tf.distribute`` even on one
    device; traced, that registers a ``CustomGradient-N`` function in TensorFlow's global
    gradient registry which is never removed and keeps the trial's whole graph alive
    (about 4 MiB per trial for a small MLP; ``clear_session`` does not touch it). The entries
    are read only while gradients are traced, so dropping them after the fit is safe: a
    later re-trace registers fresh ones.
    """
    registry = _gradient_registry()
    if registry is None:
        return
    for name in _custom_gradients() - before:
        registry.pop(name, None)


def fit_split(
    config: Mapping[str, Any],
    split: Split,
    *,
    dataset: Dataset,
    model_kind: Any,
    metric: str,
    direction: str,
    report: Report | None,
    seed: int,
    search_path: Path | None,
) -> tuple[Any, EpochWatch]:
    """Build, compile and fit one model on one split; returns the model (best weights) and the watcher."""
    import keras

    keras.backend.clear_session()  # and a gc.collect()
    keras.utils.set_random_seed(seed)
    info = dataset.info
    stats = (split.mean, split.variance) if split.mean is not None else None
    model = build_model(model_kind, config, task=info.task, input_shape=info.input_shape,
                        n_outputs=info.n_outputs, stats=stats, search_path=search_path)
    batch_size, epochs = int(value(config, "batch_size")), int(value(config, "epochs"))
    in_graph = isinstance(model_kind, str)  # the built-in models; a user's builder may need fit's own loop
    if in_graph:
        compile_model(model, config, task=info.task, jit_compile=False)  # the loop compiles its own step
    else:
        compile_model(model, config, task=info.task, **fast_settings(len(split.x_train), batch_size))
    watch = EpochWatch(metric, direction, int(value(config, "patience")), report)
    registered = _custom_gradients()
    try:
        if in_graph:
            fit_in_graph(model, split, batch_size=batch_size, epochs=epochs,
                         validation_batch=max(batch_size, VALIDATION_BATCH), watch=watch, seed=seed,
                         jit_compile=uses_xla(len(split.x_train), batch_size, epochs,
                                              draws_random=draws_random(model)))
        else:
            model.fit(
                split.x_train, split.y_train,
                validation_data=(split.x_val, split.y_val),
                validation_batch_size=max(batch_size, VALIDATION_BATCH),
                epochs=epochs,
                batch_size=batch_size,
                shuffle=True,
                verbose=0,
                callbacks=[watch],
            )
    finally:
        _forget_custom_gradients(registered)
    if watch.best_weights is not None:
        model.set_weights(watch.best_weights)
    return model, watch


def train_config(
    config: Mapping[str, Any],
    dataset: Dataset,
    *,
    model_kind: Any = "mlp",
    metric: str = "val_accuracy",
    direction: str = "maximize",
    report: Report | None = None,
    seed: int = 0,
    keep_model: bool = False,
    search_path: Path | None = None,
) -> TrainResult:
    """Train ``config`` on every split of ``dataset``; the objective is the mean best epoch value.

    ``report(epoch, logs)`` is called after every epoch of the first split; it may raise
    :class:`Pruned` to stop the trial. Errors become a FAIL result, never an exception.
    """
    start = time.perf_counter()
    result = TrainResult(state=TrialState.RUNNING, objective=None, metric=metric)
    try:
        for index, split in enumerate(dataset.splits):
            model, watch = fit_split(
                config, split, dataset=dataset, model_kind=model_kind, metric=metric, direction=direction,
                report=report if index == 0 else None, seed=seed, search_path=search_path,
            )
            if index == 0:
                result.history, result.best_epoch = watch.history, watch.best_epoch
                result.n_params = int(model.count_params())
                if keep_model and not watch.failure:  # pruned trials keep theirs too (for their plots)
                    result.model = model
            if watch.failure:
                result.state, result.error = TrialState.FAIL, watch.failure
                break
            if watch.pruned:
                result.state = TrialState.PRUNED
                result.objective = watch.best
                break
            result.fold_objectives.append(float(watch.best))  # type: ignore[arg-type]
        if result.state is TrialState.RUNNING:
            result.state = TrialState.COMPLETE
            result.objective = float(np.mean(result.fold_objectives))
    except TuneforgeError:
        raise  # the study itself is wrong (e.g. the builder cannot be imported): stop the search
    except Exception as exc:  # noqa: BLE001 - a trial's failure must not crash its worker
        result.state, result.error = TrialState.FAIL, f"{type(exc).__name__}: {exc}"[:2000]
    result.seconds = time.perf_counter() - start
    return result


def evaluate(model: Any, x: np.ndarray, y: np.ndarray, batch_size: int = 1024) -> dict[str, float]:
    """The model's loss and metrics on ``(x, y)`` as plain floats."""
    values = model.evaluate(x, y, batch_size=batch_size, verbose=0, return_dict=True)
    return {k: float(v) for k, v in values.items()}
