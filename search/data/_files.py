"""Datasets from the user's files: CSV through pandas, NPZ through ``np.load(allow_pickle=False)``.

CSV: the ``target`` column is required; ``features`` picks columns (default: every
other column); features must be numeric (booleans become 0/1) and finite. NPZ:
arrays ``x`` (rows first, any number of further dimensions, flattened) and ``y`` (one
value per row). A ``uint8`` ``x`` is taken as images: scaled by 1/255 and not
standardized; any other ``x`` stays raw and is standardized by the model.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from search.data._errors import DataError, count, rows_text
from search.data._target import Raw
from spaces import did_you_mean


@dataclass(frozen=True)
class CsvSpec:
    path: Path
    target: str
    features: tuple[str, ...] | None


@dataclass(frozen=True)
class NpzSpec:
    path: Path
    x: str
    y: str


def resolve_path(value: str | os.PathLike, base_dir: str | os.PathLike | None) -> Path:
    """Absolute path; a relative one is taken against ``base_dir`` (default: the working directory)."""
    path = Path(value).expanduser()
    if not path.is_absolute():
        path = Path(base_dir if base_dir is not None else os.getcwd()).expanduser() / path
    return Path(os.path.abspath(path))


def file_fingerprint(path: Path, kind: str) -> tuple[str, int, int]:
    """``(path, mtime_ns, size)`` of an existing regular file; DataError if missing or a directory."""
    if path.is_dir():
        inside = sorted(p.name for p in path.glob(f"*.{kind}"))[:5]
        hint = f"it holds {', '.join(inside)}; name one of them" if inside else f"give the path of the .{kind} file"
        raise DataError("is a directory, not a file", source=str(path), hint=hint)
    try:
        st = path.stat()
    except FileNotFoundError:
        raise DataError("file not found", source=str(path),
                        hint="check the path; relative paths resolve against the study file's folder "
                             "(base_dir) or the working directory") from None
    except OSError as exc:
        raise DataError(f"cannot read the file: {exc.strerror}", source=str(path)) from None
    return str(path), st.st_mtime_ns, st.st_size


def read_csv(spec: CsvSpec) -> Raw:
    import pandas as pd

    where = str(spec.path)
    try:
        frame = pd.read_csv(spec.path)
    except pd.errors.EmptyDataError:
        raise DataError("the CSV file is empty", source=where,
                        hint="it needs a header row with the column names and at least one data row") from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"cannot parse the CSV file: {first}", source=where,
                        hint="it must be comma-separated UTF-8 text with a header row") from None
    columns = [str(c) for c in frame.columns]
    frame.columns = columns
    if spec.target not in columns:
        raise DataError(f"no target column {spec.target!r}; the columns are {', '.join(columns)}", source=where,
                        hint=did_you_mean(spec.target, columns) or "set target to one of them")
    if len(frame) == 0:
        raise DataError("the CSV file has a header but no data rows", source=where, hint="add data rows")
    features = _pick_features(spec, columns, where)
    x = np.empty((len(frame), len(features)), dtype=np.float32)
    for j, name in enumerate(features):
        x[:, j] = _numeric_column(frame[name], name, where, pd)
    y = _target_column(frame[spec.target], spec.target, where, pd)
    return Raw(spec.path.name, where, x, y, standardize=True, where=where,
               target_label=f"target column {spec.target!r}")


def _pick_features(spec: CsvSpec, columns: list[str], where: str) -> list[str]:
    if spec.features is None:
        features = [c for c in columns if c != spec.target]
        if not features:
            raise DataError(f"the file has only the target column {spec.target!r}, no feature columns",
                            source=where, hint="add feature columns")
        return features
    if not spec.features:
        raise DataError("features is an empty list", source=where, hint="list feature columns, or leave it out")
    for name in spec.features:
        if name not in columns:
            raise DataError(f"no feature column {name!r}; the columns are {', '.join(columns)}", source=where,
                            hint=did_you_mean(name, columns) or "fix the features list")
        if name == spec.target:
            raise DataError(f"the target column {name!r} is also listed as a feature", source=where,
                            hint="remove it from features")
    if len(set(spec.features)) != len(spec.features):
        twice = next(n for n in spec.features if spec.features.count(n) > 1)
        raise DataError(f"feature column {twice!r} is listed twice", source=where, hint="list it once")
    return list(spec.features)


def _numeric_column(col, name: str, where: str, pd) -> np.ndarray:
    if col.dtype.kind not in "biuf":
        parsed = pd.to_numeric(col, errors="coerce")
        bad = np.flatnonzero(parsed.isna().to_numpy() & col.notna().to_numpy())
        if len(bad):
            raise DataError(
                f"feature column {name!r} is not numeric: data row {bad[0] + 1} holds {str(col.iloc[bad[0]])!r}",
                source=where, hint="encode it as numbers (e.g. one-hot columns), or leave it out with features: [...]")
        col = parsed
    values = col.to_numpy(dtype=np.float64, na_value=np.nan).astype(np.float32)
    bad = np.flatnonzero(~np.isfinite(values))
    if len(bad):
        raise DataError(
            f"feature column {name!r} has {count(len(bad), 'missing or infinite value')} "
            f"({'data row' if len(bad) == 1 else 'data rows'} {rows_text(bad + 1)})",
            source=where, hint="fill or drop those rows, or leave the column out with features: [...]")
    return values


def _target_column(col, name: str, where: str, pd) -> np.ndarray:
    missing = col.isna().to_numpy()
    if col.dtype.kind in "f":
        missing = missing | ~np.isfinite(col.to_numpy(dtype=np.float64, na_value=np.nan))
    bad = np.flatnonzero(missing)
    if len(bad):
        raise DataError(
            f"target column {name!r} has {count(len(bad), 'missing or infinite value')} "
            f"({'data row' if len(bad) == 1 else 'data rows'} {rows_text(bad + 1)})",
            source=where, hint="drop those rows or fill in their target")
    if col.dtype.kind in "biuf":
        return col.to_numpy()
    return col.astype(str).to_numpy(dtype=str)


def read_npz(spec: NpzSpec) -> Raw:
    where = str(spec.path)
    try:
        archive = np.load(spec.path, allow_pickle=False)
    except ValueError:
        raise DataError("is not an .npz archive (np.load found pickled data)", source=where,
                        hint="save the arrays with np.savez(path, x=..., y=...)") from None
    except Exception as exc:
        raise DataError(f"cannot read the .npz archive: {type(exc).__name__}: {exc}", source=where,
                        hint="save the arrays with np.savez(path, x=..., y=...)") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise DataError("is a single .npy array, not an .npz archive of named arrays", source=where,
                        hint="save with np.savez(path, x=..., y=...)")
    with archive:
        x = _array(archive, spec.x, "x", where)
        y = _array(archive, spec.y, "y", where)
    if x.ndim < 2 or len(x) == 0:
        raise DataError(f"array {spec.x!r} has shape {x.shape}; it needs rows first and at least one feature, "
                        "e.g. (rows, features)", source=where, hint="for one feature use x.reshape(-1, 1)")
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise DataError(f"array {spec.y!r} has shape {y.shape}; it needs one label or value per row",
                        source=where, hint="for one-hot labels save y.argmax(axis=1)")
    if len(x) != len(y):
        raise DataError(f"x and y have different lengths: {spec.x!r} has {len(x)} rows, {spec.y!r} has {len(y)}",
                        source=where, hint="save arrays with one y entry per row of x")
    if x.dtype.kind not in "biuf":
        raise DataError(f"array {spec.x!r} is not numeric (dtype {x.dtype})", source=where,
                        hint="encode features as numbers")
    if y.dtype.kind not in "biufUS":
        raise DataError(f"array {spec.y!r} has unsupported dtype {y.dtype}", source=where,
                        hint="use numbers or strings")
    images = x.dtype == np.uint8
    flat = np.ascontiguousarray(x.reshape(len(x), -1), dtype=np.float32)
    if images:
        flat /= np.float32(255.0)
    _finite(flat, spec.x, where)
    if y.dtype.kind == "f":
        _finite(y.astype(np.float64), spec.y, where)
    return Raw(spec.path.name, where, flat, y, standardize=not images, where=where,
               target_label=f"array {spec.y!r}")


def _array(archive, key: str, role: str, where: str) -> np.ndarray:
    if key not in archive.files:
        raise DataError(f"no array {key!r} (for {role}); the archive holds {', '.join(archive.files) or 'nothing'}",
                        source=where, hint=did_you_mean(key, archive.files) or f"set {role}: to one of them")
    try:
        value = archive[key]
    except ValueError:
        raise DataError(f"array {key!r} holds Python objects, which need pickle; tuneforge loads .npz files "
                        "without pickle", source=where,
                        hint="save numeric or string arrays, e.g. np.asarray(values, dtype=float) or dtype=str") from None
    if not isinstance(value, np.ndarray):
        raise DataError(f"member {key!r} is not a .npy array", source=where, hint="save with np.savez")
    return value


def _finite(a: np.ndarray, key: str, where: str) -> None:
    bad_rows = np.flatnonzero(~np.isfinite(a.reshape(len(a), -1)).all(axis=1))
    if len(bad_rows):
        raise DataError(f"array {key!r} has NaN or infinite values in {count(len(bad_rows), 'row')} "
                        f"(row indices {rows_text(bad_rows)})", source=where,
                        hint="fill or drop those rows before saving")
