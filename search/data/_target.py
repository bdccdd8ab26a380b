"""Raw loaded data and the target: infer or check the task, encode class labels.

Task inference for files (a ``task`` given explicitly is checked instead):

* a non-numeric target (strings, categories) is ``binary`` with 2 distinct values,
  else ``classification``;
* a numeric, integer-valued target (``3`` or ``3.0``; booleans too) with at most 2
  distinct values is ``binary``; with at most 50 distinct values *and* at most
  ``max(10, rows // 20)`` of them (so on average at least 20 rows per class once
  there are more than 10 classes) it is ``classification``;
* anything else -- non-integer values, or many distinct integers -- is ``regression``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from search.data._errors import DataError

TASKS = ("classification", "binary", "regression")
MAX_INFERRED_CLASSES = 50


@dataclass
class Raw:
    """Features and target as read, before the task is settled and rows are split."""

    name: str                     # DatasetInfo.name
    source: str                   # DatasetInfo.source
    x: np.ndarray                 # (n, features) float32, finite
    y: np.ndarray                 # (n,) target as read: numbers, booleans or strings; finite
    standardize: bool
    where: str | None = None      # file for DataError.source
    target_label: str = "the target"
    task: str | None = None       # known task (named sets), y already coded 0..k-1
    class_names: tuple[str, ...] | None = None


def infer_task(numeric: bool, integer: bool, n_distinct: int, n_rows: int) -> str:
    """The task a target most likely means; see the module docstring for the rule."""
    if not numeric:
        return "binary" if n_distinct == 2 else "classification"
    if integer and n_distinct <= 2:
        return "binary"
    if integer and n_distinct <= MAX_INFERRED_CLASSES and n_distinct <= max(10, n_rows // 20):
        return "classification"
    return "regression"


def _label(value) -> str:
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


def resolve_target(raw: Raw, task: str | None) -> tuple[np.ndarray, str, tuple[str, ...] | None]:
    """``(y, task, class_names)``: y int32 codes 0..k-1 for classes, float32 for regression."""
    if raw.task is not None:
        return _named_target(raw, task)
    y = raw.y
    numeric = y.dtype.kind in "biuf"
    if not numeric:
        y = y.astype(str)
    integer = numeric and bool(np.all(np.mod(y.astype(np.float64), 1.0) == 0.0))
    values, codes = np.unique(y, return_inverse=True)
    if task is None:
        task = infer_task(numeric, integer, len(values), len(y))
    where = {"source": raw.where}
    if task == "regression":
        if not numeric:
            raise DataError(
                f"{raw.target_label} is not numeric (e.g. {_label(values[0])!r}), so it cannot be a "
                "regression target", hint="use task: classification, or leave task out to infer it", **where)
        out = np.ascontiguousarray(y, dtype=np.float32)
        if not np.all(np.isfinite(out)):
            raise DataError(f"{raw.target_label} has values too large for float32",
                            hint="rescale the target (e.g. thousands instead of units)", **where)
        return out, task, None
    if numeric and not integer:
        example = next(v for v in values if not float(v).is_integer())
        raise DataError(
            f"{raw.target_label} has non-integer values (e.g. {float(example):g}), so it cannot be a "
            f"{task} target", hint="use task: regression, or leave task out to infer it", **where)
    if len(values) < 2:
        raise DataError(
            f"{raw.target_label} has a single class {_label(values[0])!r} in all {len(y)} rows; "
            f"{task} needs at least 2 classes", hint="check the target, or add rows of other classes", **where)
    if task == "binary" and len(values) != 2:
        raise DataError(f"{raw.target_label} has {len(values)} classes, but task 'binary' needs exactly 2",
                        hint="use task: classification, or leave task out to infer it", **where)
    names = tuple(_label(v) for v in values)
    return np.ascontiguousarray(codes.reshape(-1), dtype=np.int32), task, names


def _named_target(raw: Raw, task: str | None) -> tuple[np.ndarray, str, tuple[str, ...] | None]:
    allowed = (raw.task, "classification") if raw.task == "binary" else (raw.task,)
    if task is None:
        task = raw.task
    elif task not in allowed:
        raise DataError(f"dataset {raw.name!r} is a {raw.task} dataset, so task {task!r} does not fit it",
                        hint=f"use task: {raw.task}, or leave task out")
    if task == "regression":
        return np.ascontiguousarray(raw.y, dtype=np.float32), task, None
    return np.ascontiguousarray(raw.y, dtype=np.int32), task, raw.class_names
