"""Seeded splits: test rows first, then a validation holdout or k folds of the pool.

Classification and binary targets are stratified everywhere (``train_test_split``
with ``stratify``, ``StratifiedKFold``); regression uses ``KFold``. The pool is in the
shuffled order the test split leaves (a seeded permutation when ``test == 0``) and
each split takes its rows in pool order. A validation fraction is a fraction of the
pool, not of all rows. Feature statistics come from each split's training rows only.
"""

from __future__ import annotations

import hashlib

import numpy as np

from search.data._errors import DataError, count
from search.data._target import Raw
from search.data._types import Dataset, DatasetInfo, Split


def build(raw: Raw, y: np.ndarray, task: str, class_names: tuple[str, ...] | None, *,
          validation: float | int, test: float, seed: int) -> Dataset:
    """Split ``raw.x``/``y`` into test rows, the pool and its splits; compute stats and the digest."""
    stratify = task != "regression"
    names = class_names or ()
    pool_idx, test_idx = _test_split(raw, y, test, seed, stratify, names)
    x_pool, y_pool = _take(raw.x, pool_idx), _take(y, pool_idx)
    if isinstance(validation, int):
        test_fold = _folds(raw, y_pool, validation, seed, stratify, names)
        k = validation
    else:
        test_fold = _holdout(raw, y_pool, validation, seed, stratify, names)
        k = 1
    splits = []
    for fold in range(k):
        val = test_fold == fold
        x_train, x_val = _take(x_pool, ~val), _take(x_pool, val)
        mean, var = _stats(x_train) if raw.standardize else (None, None)
        splits.append(Split(x_train, _take(y_pool, ~val), x_val, _take(y_pool, val), mean, var))
    x_test, y_test = _take(raw.x, test_idx), _take(y, test_idx)
    _readonly(test_fold)
    first = splits[0]
    info = DatasetInfo(
        name=raw.name, task=task, input_shape=tuple(raw.x.shape[1:]),
        n_outputs=len(names) if task == "classification" else 1, class_names=class_names,
        n_train=len(first.x_train), n_val=len(first.x_val), n_test=len(x_test),
        folds=k if isinstance(validation, int) else None, standardize=raw.standardize,
        sha256=digest(x_pool, y_pool, test_fold, x_test, y_test), source=raw.source,
    )
    return Dataset(info, tuple(splits), x_pool, y_pool, test_fold,
                   _stats(x_pool) if raw.standardize else None, x_test, y_test)


def digest(*arrays: np.ndarray) -> str:
    """sha256 over dtype, shape and bytes of each array: the same data gives the same hex in any process."""
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype.str}{a.shape};".encode())
        h.update(a.data)
    return h.hexdigest()


def _test_split(raw, y, test, seed, stratify, names):
    n = len(y)
    if test == 0:
        return np.random.RandomState(seed).permutation(n), np.zeros(0, dtype=np.intp)
    if stratify:
        _need_per_class(raw, y, 2, names, f"a stratified {test:g} test split", "set test: 0")
    return _split_or_explain(raw, np.arange(n), y, test, seed, stratify, f"hold out {test:g} of {n} rows for testing",
                             "lower test or add rows")


def _holdout(raw, y_pool, validation, seed, stratify, names):
    n = len(y_pool)
    if stratify:
        _need_per_class(raw, y_pool, 2, names, "a stratified validation split of the training pool",
                        "lower test (or set it to 0), or add rows")
    train, val = _split_or_explain(raw, np.arange(n), y_pool, validation, seed, stratify,
                                   f"hold out {validation:g} of the {n}-row training pool for validation",
                                   "change validation or test, or add rows")
    fold = np.full(n, -1, dtype=np.int32)
    fold[val] = 0
    return fold


def _folds(raw, y_pool, k, seed, stratify, names):
    from sklearn.model_selection import KFold, StratifiedKFold

    n = len(y_pool)
    if n < k:
        raise DataError(f"{k} folds need at least {k} rows, but the training pool has only {n}"
                        f" (of {len(raw.x)} rows, after the test split)", source=raw.where,
                        hint=f"use at most {max(n, 2)} folds, a validation fraction, or more data")
    if stratify:
        _need_per_class(raw, y_pool, k, names, f"stratifying {k} folds", "use fewer folds")
        cv = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    else:
        cv = KFold(n_splits=k, shuffle=True, random_state=seed)
    fold = np.empty(n, dtype=np.int32)
    for i, (_, val) in enumerate(cv.split(np.zeros((n, 1)), y_pool)):
        fold[val] = i
    return fold


def _need_per_class(raw, y, least, names, what, fix):
    counts = np.bincount(y, minlength=len(names))
    present = np.flatnonzero(counts)
    worst = present[np.argmin(counts[present])]
    if counts[worst] < least:
        label = names[worst] if worst < len(names) else str(worst)
        raise DataError(f"class {label!r} has only {count(int(counts[worst]), 'row')} of {len(y)}; {what} "
                        f"needs at least {least} rows of every class", source=raw.where,
                        hint=f"{fix}, or drop or merge the rare class")


def _split_or_explain(raw, idx, y, size, seed, stratify, what, fix):
    from sklearn.model_selection import train_test_split

    try:
        return train_test_split(idx, test_size=size, random_state=seed, shuffle=True,
                                stratify=y if stratify else None)
    except ValueError as exc:
        reason = str(exc).strip().splitlines()[0]
        raise DataError(f"cannot {what}: {reason}", source=raw.where, hint=fix) from None


def _stats(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean = x.mean(axis=0, dtype=np.float64).astype(np.float32)
    var = x.var(axis=0, dtype=np.float64).astype(np.float32)
    var[var <= 0] = 1.0
    return _readonly(mean), _readonly(var)


ALIGN = 64  # bytes: TensorFlow's CPU kernels use a buffer in place only at this alignment


def _aligned_like(a: np.ndarray) -> np.ndarray:
    """An uninitialised C-contiguous array like ``a`` whose data starts on an :data:`ALIGN`-byte boundary."""
    buffer = np.empty(a.nbytes + ALIGN, dtype=np.uint8)
    offset = -buffer.ctypes.data % ALIGN
    return buffer[offset:offset + a.nbytes].view(a.dtype).reshape(a.shape)


def _take(a: np.ndarray, index: np.ndarray) -> np.ndarray:
    """``a[index]``, contiguous, aligned (the trainer wraps it as a tensor without a copy), read-only."""
    rows = a[index]
    out = _aligned_like(rows)
    out[...] = rows
    return _readonly(out)


def _readonly(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a
