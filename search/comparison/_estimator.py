"""One scikeras estimator over the study's own model: ``build_model`` + ``compile_model``.

Every fit of a comparison (GridSearchCV's and every other strategy's) goes through
:func:`make_estimator`, so a config is always the same Keras model, compiled the same
way, trained for the same epochs with the same batch size and seed as anywhere else.

Params arrive ``model__``-prefixed, either as a grid point (a per-layer parameter has
one shared value, ``model__units``) or as a sampled config (``model__units_0``, ...);
both turn into the same full config. Tabular models standardize inside themselves
with the statistics of the rows they are fitted on, as a run's trial does.
"""

from __future__ import annotations

import gc
from collections.abc import Mapping
from typing import Any

import numpy as np
from scikeras.wrappers import KerasClassifier, KerasRegressor

from search.models import build_model, compile_model, value
from spaces import Fixed, SearchSpace

PREFIX = "model__"
MAX_STEPS_PER_EXECUTION = 32  # as the trainer: up to 32 batches per graph call, same math


def limit_threads(threads: int | None) -> None:
    """Give TensorFlow ``threads`` intra-op threads (and 1 inter-op) in this process, if not started yet.

    Called at the top of every fit so a joblib worker process gets its share of the cores;
    once TensorFlow's runtime is running the setting cannot change and this does nothing.
    """
    if not threads:
        return
    import tensorflow as tf

    try:
        if tf.config.threading.get_intra_op_parallelism_threads() != threads:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:
        pass  # already initialized: keep what it has (the same for every fit in this process)


def config_from_params(space: SearchSpace, params: Mapping[str, Any]) -> dict[str, Any]:
    """The full model config from ``model__`` params (shared per-layer values are copied to each layer)."""
    values = {k[len(PREFIX):]: v for k, v in params.items() if k.startswith(PREFIX)}

    def choose(param: Any, name: str) -> Any:
        if name in values:
            return values[name]
        if param.name in values:
            return values[param.name]
        if isinstance(param, Fixed):
            return param.value
        raise KeyError(f"the config has no value for {name!r}")

    return space.walk(choose)


def _stats(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and variance of the fitted rows, as :mod:`search.data` computes a split's."""
    mean = x.mean(axis=0, dtype=np.float64).astype(np.float32)
    var = x.var(axis=0, dtype=np.float64).astype(np.float32)
    var[var <= 0] = 1.0
    return mean, var


class _StudyModel:
    """What both wrappers add to scikeras: the study's builder, its seed and its fit settings.

    Non-routed settings (``space``, ``task``, ``model_kind``, ``seed``, ``standardize``,
    ``threads``, ``search_path``) are scikeras user params: ``clone`` keeps them.
    """

    def _config(self) -> dict[str, Any]:
        return config_from_params(self.space, self.get_params())  # type: ignore[attr-defined]

    def _initialize(self, X: Any, y: Any = None) -> Any:
        X = np.asarray(X)
        self._fit_stats = _stats(X) if self.standardize else None  # type: ignore[attr-defined]
        self._fit_rows = len(X)
        return super()._initialize(X, y)  # type: ignore[misc]

    def _keras_build_fn(self, meta: dict[str, Any], compile_kwargs: dict[str, Any], **_: Any) -> Any:
        import keras

        keras.backend.clear_session()
        gc.collect()
        keras.utils.set_random_seed(int(self.seed))  # type: ignore[attr-defined]
        config = self._config()
        input_shape = tuple(meta["X_shape_"][1:])
        n_outputs = int(meta.get("n_classes_") or 1) if self.task == "classification" else 1  # type: ignore[attr-defined]
        model = build_model(self.model_kind, config, task=self.task, input_shape=input_shape,  # type: ignore[attr-defined]
                            n_outputs=n_outputs, stats=self._fit_stats,  # type: ignore[attr-defined]
                            search_path=self.search_path)  # type: ignore[attr-defined]
        batch_size = int(value(config, "batch_size"))
        steps = max(1, -(-self._fit_rows // batch_size))
        return compile_model(model, config, task=self.task,  # type: ignore[attr-defined]
                             steps_per_execution=min(MAX_STEPS_PER_EXECUTION, steps), jit_compile=False)

    def fit(self, X: Any, y: Any, sample_weight: Any = None, **kwargs: Any) -> Any:
        limit_threads(self.threads)  # type: ignore[attr-defined]
        config = self._config()
        kwargs.setdefault("epochs", int(value(config, "epochs")))
        return super().fit(X, y, sample_weight=sample_weight, **kwargs)  # type: ignore[misc]

    def _fit_keras_model(self, X: Any, y: Any, sample_weight: Any, warm_start: bool, epochs: int,
                         initial_epoch: int, **kwargs: Any) -> None:
        from search.training._trainer import _custom_gradients, _forget_custom_gradients

        kwargs["batch_size"] = int(value(self._config(), "batch_size"))
        before = _custom_gradients()
        try:
            super()._fit_keras_model(X, y, sample_weight, warm_start, epochs, initial_epoch,  # type: ignore[misc]
                                     **kwargs)
        finally:
            _forget_custom_gradients(before)  # the trainer's fix for a per-fit graph leak


class StudyClassifier(_StudyModel, KerasClassifier):
    """``KerasClassifier`` over the study's model (classification and binary tasks)."""


class StudyRegressor(_StudyModel, KerasRegressor):
    """``KerasRegressor`` over the study's model (regression)."""


def make_estimator(*, space: SearchSpace, task: str, model_kind: Any, seed: int, standardize: bool,
                   threads: int | None = None, search_path: str | None = None) -> Any:
    """A scikeras estimator for the study; set a config with ``set_params(model__name=value, ...)``.

    ``seed`` seeds TensorFlow, Keras, NumPy and Python inside every fit (scikeras'
    ``random_state`` and ``keras.utils.set_random_seed`` before the model is built), so a
    config's score depends only on (config, rows, seed). ``threads`` caps TensorFlow's
    threads in processes that start with this fit (joblib workers).
    """
    cls = StudyRegressor if task == "regression" else StudyClassifier
    fixed = {f"{PREFIX}{p.name}": p.value for p in space if isinstance(p, Fixed)}
    return cls(
        random_state=int(seed), verbose=0, shuffle=True,
        space=space, task=task, model_kind=model_kind, seed=int(seed), standardize=bool(standardize),
        threads=threads, search_path=search_path, **fixed,
    )
