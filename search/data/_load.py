"""``load_data``: normalize the arguments, load once per process, split, memoize."""

from __future__ import annotations

import numbers
import os
import threading
from typing import Any

from search.data._downloads import cached_files, load_download
from search.data._errors import DataError
from search.data._files import CsvSpec, file_fingerprint, read_csv, read_npz
from search.data._named import BUNDLED, load_bundled
from search.data._source import parse_source
from search.data._split import build
from search.data._target import TASKS, resolve_target
from search.data._types import Dataset
from search.data.catalog import CATALOG
from spaces import did_you_mean

_CACHE: dict[tuple, Dataset] = {}
_LOCK = threading.Lock()


def load_data(source: Any, *, task: str | None = None, validation: Any = 0.2, test: float = 0.2,
              seed: int = 42, base_dir: str | os.PathLike | None = None) -> Dataset:
    """Load, split and memoize a dataset.

    ``source``: a catalog name (``"digits"``), ``{"csv": path, "target": col, "features": [...]}``,
    ``{"npz": path, "x": "x", "y": "y"}`` or the study file's ``CsvSource``/``NpzSource``;
    relative paths resolve against ``base_dir`` (default: the working directory).
    ``task``: ``classification``, ``binary``, ``regression`` or None (the catalog's task, or
    inferred for files). ``validation``: a fraction of the pool in (0, 1), an int k >= 2 or
    ``Folds`` for k folds. ``test``: the fraction of all rows held out first (0: none).

    The same arguments (and, for files, the same mtime and size) return the same
    :class:`Dataset` object for the life of the process; :func:`clear_cache` forgets them.
    Every problem raises :class:`DataError`.
    """
    spec = parse_source(source, base_dir)
    task = _task(task)
    split_args = (_validation(validation), _test(test), _seed(seed))
    if isinstance(spec, str):
        files = () if spec in BUNDLED else tuple(file_fingerprint(p, "") for p in cached_files(spec))
        source_key: tuple = ("name", spec, files)
        task = task or CATALOG[spec].task
    else:
        source_key = (type(spec).__name__, spec, file_fingerprint(spec.path, "csv" if isinstance(spec, CsvSpec)
                                                                  else "npz"))
    key = (source_key, task, *split_args)
    with _LOCK:
        if key in _CACHE:
            return _CACHE[key]
        if isinstance(spec, str):
            raw = load_bundled(spec) if spec in BUNDLED else load_download(spec, cached_files(spec))
        else:
            raw = read_csv(spec) if isinstance(spec, CsvSpec) else read_npz(spec)
        y, resolved, class_names = resolve_target(raw, task)
        inferred_key = (source_key, resolved, *split_args)
        dataset = _CACHE.get(inferred_key)
        if dataset is None:
            validation_, test_, seed_ = split_args
            dataset = build(raw, y, resolved, class_names, validation=validation_, test=test_, seed=seed_)
            _CACHE[inferred_key] = dataset
        _CACHE[key] = dataset
        return dataset


def clear_cache() -> None:
    """Forget every memoized dataset (the next ``load_data`` reads again)."""
    with _LOCK:
        _CACHE.clear()


def _task(task: Any) -> str | None:
    if task is None or task in TASKS:
        return task
    raise DataError(f"task must be one of {', '.join(TASKS)} or None, but got {task!r}",
                    hint=did_you_mean(str(task), TASKS))


def _validation(value: Any) -> float | int:
    if isinstance(value, dict) and set(value) == {"folds"}:
        value = value["folds"]
    elif hasattr(value, "folds"):
        value = value.folds
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise DataError(f"validation must be a fraction in (0, 1) or a number of folds >= 2, but got {value!r}")
    if isinstance(value, numbers.Integral):
        if value < 2:
            raise DataError(f"validation as folds needs k >= 2, but got {value}",
                            hint="use 2 or more folds, or a fraction like 0.2")
        return int(value)
    if not 0.0 < float(value) < 1.0:
        raise DataError(f"a validation fraction must lie in (0, 1), but got {value}",
                        hint="e.g. 0.2, or an int k >= 2 for k folds")
    return float(value)


def _test(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0.0 <= float(value) < 1.0:
        raise DataError(f"test must be a fraction in [0, 1), but got {value!r}", hint="e.g. 0.2, or 0 for no test split")
    return float(value)


def _seed(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise DataError(f"seed must be an integer, but got {value!r}")
    return int(value)
