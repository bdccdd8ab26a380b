"""The public result types: :class:`DatasetInfo`, :class:`Split` and :class:`Dataset`.

Arrays are read-only (``flags.writeable`` is False): a :class:`Dataset` is memoized
and shared by every caller in the process, so in-place edits would leak between them.
Copy an array (``x.copy()``) before modifying it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class DatasetInfo:
    """What a model builder needs to know about a dataset, without the arrays."""

    name: str
    task: str
    input_shape: tuple[int, ...]
    n_outputs: int
    class_names: tuple[str, ...] | None
    n_train: int
    n_val: int
    n_test: int
    folds: int | None
    standardize: bool
    sha256: str
    source: str


@dataclass(frozen=True, eq=False, repr=False)
class Split:
    """One train/validation split of the pool; ``mean``/``variance`` come from ``x_train`` only."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    mean: np.ndarray | None
    variance: np.ndarray | None

    def __repr__(self) -> str:
        return f"Split(train={self.x_train.shape}, val={self.x_val.shape}, stats={self.mean is not None})"


@dataclass(frozen=True, eq=False, repr=False)
class Dataset:
    """A loaded dataset: the pool (train + validation rows), its splits and the test rows.

    ``test_fold[i]`` says where pool row ``i`` validates: ``-1`` (always training) or
    ``0`` for holdout, the fold id for k folds -- usable as
    ``sklearn.model_selection.PredefinedSplit(test_fold)``. Split ``j`` is
    ``x_pool[test_fold != j]`` / ``x_pool[test_fold == j]`` in pool order.
    """

    info: DatasetInfo
    splits: tuple[Split, ...]
    x_pool: np.ndarray
    y_pool: np.ndarray
    test_fold: np.ndarray
    pool_stats: tuple[np.ndarray, np.ndarray] | None
    x_test: np.ndarray
    y_test: np.ndarray

    def __repr__(self) -> str:
        i = self.info
        how = f"folds={i.folds}" if i.folds else f"train={i.n_train}, val={i.n_val}"
        return (f"Dataset({i.name!r}, task={i.task!r}, input_shape={i.input_shape}, "
                f"pool={len(self.x_pool)}, {how}, test={i.n_test}, sha256={i.sha256[:12]})")
