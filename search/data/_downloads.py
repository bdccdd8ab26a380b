"""Named sets that their library downloads: keras.datasets and scikit-learn's fetchers.

tuneforge never downloads. It looks for the file in the library's cache (Keras:
``$KERAS_HOME/datasets`` or ``~/.keras/datasets``; scikit-learn:
``get_data_home()``, i.e. ``$SCIKIT_LEARN_DATA`` or ``~/scikit_learn_data``), loads it
through the library when it is there and otherwise raises :class:`DataError` naming
the exact path to put the file at and the URL it comes from. The library's own
train/test split is not kept: all rows are pooled and ``test`` applies as for any set.
TensorFlow/Keras are imported only when such a set is actually loaded.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np

from search.data._errors import DataError
from search.data._target import Raw

KERAS_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CALIFORNIA_URL = "https://ndownloader.figshare.com/files/5976036"
FASHION_FILES = ("train-labels-idx1-ubyte.gz", "train-images-idx3-ubyte.gz",
                 "t10k-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz")
CIFAR10_FILES = tuple(f"data_batch_{i}" for i in range(1, 6)) + ("test_batch",)
FASHION_NAMES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                 "Ankle boot")
CIFAR10_NAMES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
DIGITS = tuple(str(d) for d in range(10))


def keras_home() -> Path:
    """Keras's cache root as Keras computes it: ``$KERAS_HOME`` or ``~/.keras`` (``/tmp/.keras``)."""
    if "KERAS_HOME" in os.environ:
        return Path(os.environ["KERAS_HOME"]).expanduser()
    home = Path.home()
    return (home if os.access(home, os.W_OK) else Path("/tmp")) / ".keras"


def sklearn_home() -> Path:
    """scikit-learn's data home (``$SCIKIT_LEARN_DATA`` or ``~/scikit_learn_data``)."""
    from sklearn.datasets import get_data_home

    return Path(get_data_home())


def cached_files(name: str) -> tuple[Path, ...]:
    """The cache files ``name`` is loaded from; DataError (no download) when absent."""
    if name == "california_housing":
        path = sklearn_home() / "cal_housing_py3.pkz"
        if not path.is_file():
            raise DataError(
                "california_housing is not in scikit-learn's data cache and tuneforge does not download",
                source=str(path),
                hint=f"on a machine with network run sklearn.datasets.fetch_california_housing() (it fetches "
                     f"{CALIFORNIA_URL}) and copy the cal_housing_py3.pkz it writes to {path}, "
                     "or set SCIKIT_LEARN_DATA to a folder holding it")
        return (path,)
    datasets = keras_home() / "datasets"
    if name == "mnist":
        return (_need(datasets / "mnist.npz", name, KERAS_URL + "mnist.npz"),)
    if name == "fashion_mnist":
        folder = datasets / "fashion-mnist"
        missing = [f for f in FASHION_FILES if not (folder / f).is_file()]
        if missing:
            raise DataError(
                f"fashion_mnist is not in the Keras cache and tuneforge does not download; missing "
                f"{', '.join(missing)}", source=str(folder),
                hint=f"download each from {KERAS_URL}<file name> into {folder}, or set KERAS_HOME to a folder "
                     "whose datasets/fashion-mnist holds them")
        return tuple(folder / f for f in FASHION_FILES)
    extracted = datasets / "cifar-10-batches-py-target" / "cifar-10-batches-py"
    if all((extracted / f).is_file() for f in CIFAR10_FILES):
        return tuple(extracted / f for f in CIFAR10_FILES)
    return (_need(datasets / "cifar-10-batches-py-target_archive", name, CIFAR10_URL),)


def _need(path: Path, name: str, url: str) -> Path:
    if not path.is_file():
        raise DataError(f"{name} is not in the Keras cache and tuneforge does not download",
                        source=str(path),
                        hint=f"download {url} and save it as {path}, or set KERAS_HOME to a folder whose "
                             "datasets/ holds it")
    return path


def load_download(name: str, files: tuple[Path, ...]) -> Raw:
    """Load ``name`` from the cache files :func:`cached_files` found."""
    try:
        if name == "california_housing":
            return _california(files[0])
        x, y, names, source = {"mnist": _mnist, "fashion_mnist": _fashion, "cifar10": _cifar10}[name](files)
    except DataError:
        raise
    except Exception as exc:  # a truncated or foreign file: the library's error, in one line
        raise DataError(f"cannot read the cached {name} file: {type(exc).__name__}: {exc}",
                        source=str(files[0]), hint="delete it and put a fresh copy there") from None
    x = np.ascontiguousarray(x.reshape(len(x), -1), dtype=np.float32)
    x /= np.float32(255.0)
    return Raw(name, source, x, np.asarray(y).reshape(-1), standardize=False, task="classification",
               class_names=names)


def _through_keras(path: Path, origin: str, **kwargs) -> str:
    """The cached path as ``keras.utils.get_file`` resolves it (present, so no download)."""
    home = keras_home()
    if not os.access(home, os.W_OK):  # get_file would look in /tmp/.keras instead
        return str(path)
    from keras.utils import get_file

    subdir = str(path.parent.relative_to(home))
    return get_file(path.name, origin=origin, cache_dir=str(home), cache_subdir=subdir, **kwargs)


def _mnist(files):
    path = _through_keras(files[0], KERAS_URL + "mnist.npz")
    with np.load(path, allow_pickle=False) as f:
        x = np.concatenate([f["x_train"], f["x_test"]])
        y = np.concatenate([f["y_train"], f["y_test"]])
    return x, y, DIGITS, f"keras.datasets mnist ({path}, pixels / 255)"


def _fashion(files):
    paths = [_through_keras(p, KERAS_URL + p.name) for p in files]
    arrays = []
    for path, offset in zip(paths, (8, 16, 8, 16)):
        with gzip.open(path, "rb") as fh:
            arrays.append(np.frombuffer(fh.read(), np.uint8, offset=offset))
    y = np.concatenate([arrays[0], arrays[2]])
    x = np.concatenate([arrays[1].reshape(len(arrays[0]), 28, 28), arrays[3].reshape(len(arrays[2]), 28, 28)])
    return x, y, FASHION_NAMES, f"keras.datasets fashion_mnist ({Path(paths[0]).parent}, pixels / 255)"


def _cifar10(files):
    from keras.src.datasets.cifar import load_batch

    if files[0].name.endswith("_archive"):  # keras extracts it next to the archive
        root = Path(_through_keras(files[0].with_name("cifar-10-batches-py-target"), CIFAR10_URL, extract=True))
        files = tuple(root / "cifar-10-batches-py" / f for f in CIFAR10_FILES)
    xs, ys = zip(*(load_batch(str(p)) for p in files))
    x = np.concatenate(xs).transpose(0, 2, 3, 1)  # (n, 3, 32, 32) -> (n, 32, 32, 3), flattened in that order
    return x, np.concatenate([np.asarray(y) for y in ys]), CIFAR10_NAMES, \
        f"keras.datasets cifar10 ({files[0].parent}, pixels / 255)"


def _california(path: Path) -> Raw:
    from sklearn.datasets import fetch_california_housing

    try:
        bunch = fetch_california_housing(data_home=str(path.parent), download_if_missing=False)
    except Exception as exc:
        raise DataError(f"cannot read the cached california_housing file: {type(exc).__name__}: {exc}",
                        source=str(path), hint="delete it and put a fresh copy there") from None
    x = np.ascontiguousarray(bunch.data, dtype=np.float32)
    return Raw("california_housing", f"scikit-learn california_housing ({path})", x, bunch.target,
               standardize=True, task="regression")
