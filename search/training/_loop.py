"""The trainer's own epoch loop for the built-in models: Keras's steps, less of Keras's overhead.

``model.fit`` spends most of a small MLP's step outside the math: the ``tf.data``
iterator, the distribution-strategy wrapping of every step and the optimizer's
cross-replica update path. This loop keeps what defines training -- the model's own
``train_step`` and ``test_step`` (loss, regularization, optimizer, metrics), the
callback that watches every epoch -- and drives it with less:

* the split's arrays become tensors once, over the arrays' own memory (no copy), and
  stay in memory across trials;
* one graph call per epoch gathers each batch in-graph from a seeded permutation;
* one batch shape: the epoch's last batch is filled up with rows of the next
  permutation (no ragged batch, no second trace or compile), so an epoch is
  ``ceil(rows / batch)`` full batches, as many steps as ``fit``;
* no Grappler pass over the loop's two graphs: TensorFlow rewrites a graph when it first
  runs it, which cost 0.06-0.16 s per model here (a large part of a short trial's first epoch) and
  made no epoch after it faster on these MLPs (see :func:`graph_rewrites_off`);
* for long fits the whole epoch -- its loop, gathers and steps -- is one XLA program
  (the caller decides: the compile costs about a second, then each step is cheaper;
  compiling the epoch rather than the step also drops the per-step function call and
  lets XLA fuse each batch's gather into its first layer).
"""

from __future__ import annotations

import contextlib
import logging
import math
import weakref
from collections.abc import Iterator
from typing import Any

import numpy as np

from search.data import Split

_TENSORS: weakref.WeakKeyDictionary[Split, tuple[Any, ...]] = weakref.WeakKeyDictionary()


ALIGN = 64  # bytes: TensorFlow's CPU kernels need their buffers aligned so (EIGEN_MAX_ALIGN_BYTES)


def shared_tensor(array: np.ndarray) -> Any:
    """A tensor over ``array``'s own memory (no copy), or a copy where TensorFlow cannot use it in place.

    DLPack hands the buffer over with a reference to ``array``, so the memory lives as long
    as the tensor. TensorFlow aborts the process on a misaligned buffer, so only a
    C-contiguous array aligned to :data:`ALIGN` bytes is shared (the data module makes its
    splits so). A read-only array is made writeable only for the hand-over: NumPy exports
    no read-only array through DLPack, and nothing writes to a tensor.
    """
    import tensorflow as tf

    if array.size == 0 or array.ctypes.data % ALIGN or not array.flags.c_contiguous:
        return tf.constant(array)
    readonly = not array.flags.writeable
    try:
        if readonly:
            array.flags.writeable = True
        capsule = array.__dlpack__()
    except (BufferError, TypeError, ValueError):  # a view of a read-only base, an unsupported dtype
        return tf.constant(array)
    finally:
        if readonly:
            array.flags.writeable = False
    return tf.experimental.dlpack.from_dlpack(capsule)


def split_tensors(split: Split) -> tuple[Any, Any, Any, Any]:
    """``(x_train, y_train, x_val, y_val)`` as tensors over the split's own arrays (held once, not twice),
    made once per split and kept while it lives."""
    cached = _TENSORS.get(split)
    if cached is None:
        cached = tuple(shared_tensor(a) for a in (split.x_train, split.y_train, split.x_val, split.y_val))
        _TENSORS[split] = cached
    return cached  # type: ignore[return-value]


def epoch_order(rng: np.random.Generator, n_rows: int, batch_size: int) -> np.ndarray:
    """Row indices for one epoch as ``(steps, batch_size)``: a permutation, its tail filled from the next one."""
    steps = math.ceil(n_rows / batch_size)
    order = rng.permutation(n_rows)
    while len(order) < steps * batch_size:
        order = np.concatenate([order, rng.permutation(n_rows)])
    return order[:steps * batch_size].reshape(steps, batch_size)


class _OwnRetracing(logging.Filter):
    """Drops TensorFlow's "triggered tf.function retracing" warning about this loop's functions.

    Each model gets its own step function, traced once: that is by design, not the
    accidental retracing the warning is about (it counts every closure of the same code).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return "fit_in_graph.<locals>" not in record.getMessage()


def _quiet_own_retracing() -> None:
    logger = logging.getLogger("tensorflow")
    if not any(isinstance(f, _OwnRetracing) for f in logger.filters):
        logger.addFilter(_OwnRetracing())


@contextlib.contextmanager
def graph_rewrites_off() -> Iterator[None]:
    """Run the block with TensorFlow's Grappler graph optimizer off, then restore the process's setting.

    Grappler rewrites every function graph when it first runs it. For the trainer's loop,
    a new graph per trial, that rewrite cost more than it saved: measured on mnist_5k MLPs
    (1-3 layers, batch 32-256, 2-core AVX-512 Xeon), the first training epoch took
    0.06-0.16 s less and the validation pass 0.03 s less, every later epoch the same to
    within 5 %, with the same metrics. The setting is process-wide, so it is set only
    while the loop trains: a notebook's own TensorFlow work keeps the default.
    """
    import tensorflow as tf

    before = tf.config.optimizer.get_experimental_options().get("disable_meta_optimizer", False)
    tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": True})
    try:
        yield
    finally:
        tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": before})


def _floats(results: dict[str, Any], prefix: str = "") -> dict[str, float]:
    return {prefix + k: float(v) for k, v in results.items()}


def fit_in_graph(model: Any, split: Split, *, batch_size: int, epochs: int, validation_batch: int,
                 watch: Any, seed: int, jit_compile: bool = True) -> None:
    """Train ``model`` (compiled) for up to ``epochs`` epochs, validating after each; ``watch`` sees every epoch.

    ``watch`` is a Keras callback (``on_epoch_end(epoch, logs)``; it may set
    ``model.stop_training``). Logs carry the same keys as ``model.fit``'s.
    """
    import tensorflow as tf

    _quiet_own_retracing()
    x, y, x_val, y_val = split_tensors(split)
    batch_size = min(batch_size, len(split.x_train))
    model.optimizer.build(model.trainable_variables)

    @tf.function(jit_compile=jit_compile)
    def train_epoch(order: Any) -> None:
        for i in tf.range(tf.shape(order)[0]):
            rows = order[i]
            model.train_step((tf.gather(x, rows), tf.gather(y, rows)))

    n_val = len(split.x_val)

    @tf.function
    def validate() -> None:
        for start in tf.range(0, n_val, validation_batch):
            model.test_step((x_val[start:start + validation_batch], y_val[start:start + validation_batch]))

    rng = np.random.default_rng(seed)
    watch.set_model(model)
    model.stop_training = False
    with graph_rewrites_off():
        for epoch in range(epochs):
            model.reset_metrics()
            train_epoch(tf.constant(epoch_order(rng, len(split.x_train), batch_size)))
            logs = _floats(model.get_metrics_result())
            model.reset_metrics()
            validate()
            logs.update(_floats(model.get_metrics_result(), "val_"))
            watch.on_epoch_end(epoch, logs)
            if model.stop_training:
                break
