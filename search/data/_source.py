"""Normalize the ``source`` argument: a catalog name, a dict, or the study file's models.

``CsvSource``/``NpzSource`` (search.spec) are read by duck typing (``model_dump``)
because search.spec imports this package's catalog.
"""

from __future__ import annotations

import os
from typing import Any

from search.data._errors import DataError
from search.data._files import CsvSpec, NpzSpec, resolve_path
from search.data.catalog import CATALOG
from spaces import did_you_mean

CSV_KEYS = ("csv", "target", "features")
NPZ_KEYS = ("npz", "x", "y")


def parse_source(source: Any, base_dir: str | os.PathLike | None) -> str | CsvSpec | NpzSpec:
    """A catalog name (checked), or a :class:`CsvSpec` / :class:`NpzSpec` with an absolute path."""
    if isinstance(source, str):
        if source in CATALOG:
            return source
        looks_like_file = source.lower().endswith((".csv", ".npz"))
        hint = did_you_mean(source, CATALOG) or (
            "for a file give {'csv': path, 'target': column} or {'npz': path}" if looks_like_file
            else "or give a file: {'csv': path, 'target': column} / {'npz': path}")
        raise DataError(f"unknown dataset {source!r}; known: {', '.join(CATALOG)}", hint=hint)
    if hasattr(source, "model_dump"):
        source = source.model_dump()
    if not isinstance(source, dict):
        raise DataError(f"a dataset is a name or a dict, but got {type(source).__name__}",
                        hint="e.g. 'digits', {'csv': 'houses.csv', 'target': 'price'} or {'npz': 'data.npz'}")
    if ("csv" in source) == ("npz" in source):
        raise DataError(f"a file dataset needs exactly one of the keys `csv` or `npz`, but got keys {sorted(source)}",
                        hint="e.g. {'csv': 'houses.csv', 'target': 'price'}")
    kind, allowed = ("csv", CSV_KEYS) if "csv" in source else ("npz", NPZ_KEYS)
    for key in source:
        if key not in allowed:
            raise DataError(f"unknown key {key!r} in a {kind} dataset; allowed: {', '.join(allowed)}",
                            hint=did_you_mean(key, allowed))
    path = source[kind]
    if not isinstance(path, (str, os.PathLike)) or not str(path):
        raise DataError(f"`{kind}` must be a file path, but got {path!r}")
    path = resolve_path(path, base_dir)
    if kind == "npz":
        names = {k: source.get(k, k) for k in ("x", "y")}
        for key, value in names.items():
            if not isinstance(value, str) or not value:
                raise DataError(f"`{key}` must name an array in the .npz file, but got {value!r}")
        return NpzSpec(path, names["x"], names["y"])
    target = source.get("target")
    if not isinstance(target, str) or not target:
        raise DataError(f"a csv dataset needs `target`: the name of the column to predict, but got {target!r}",
                        source=str(path), hint="e.g. {'csv': 'houses.csv', 'target': 'price'}")
    features = source.get("features")
    if features is not None:
        if isinstance(features, str) or not all(isinstance(f, str) for f in features):
            raise DataError(f"`features` must be a list of column names, but got {features!r}", source=str(path))
        features = tuple(features)
    return CsvSpec(path, target, features)
