"""Datasets: named (bundled or downloaded) and files, split and preprocessed.

``load_data(source, task=, validation=, test=, seed=, base_dir=)`` returns a memoized
:class:`Dataset`: features as float32 (images scaled to [0, 1] and flattened, tables
raw), labels as int32 codes or float32 values, seeded stratified splits, and the
training rows' mean/variance per split so models standardize inside themselves.

The names below are imported on first use, so ``search.data.catalog`` (which the
study-file schema imports) costs no numpy; pandas, scikit-learn, mlxtend and Keras
load only when a dataset that needs them is loaded.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from search.data._errors import DataError
from spaces.core._lazy import lazy_getattr

if TYPE_CHECKING:
    from search.data._load import clear_cache, load_data
    from search.data._study import dataset_for
    from search.data._types import Dataset, DatasetInfo, Split

_LAZY = {
    "load_data": "search.data._load",
    "clear_cache": "search.data._load",
    "dataset_for": "search.data._study",
    "Dataset": "search.data._types",
    "DatasetInfo": "search.data._types",
    "Split": "search.data._types",
}

__all__ = ["DataError", "Dataset", "DatasetInfo", "Split", "clear_cache", "dataset_for", "load_data"]


__getattr__ = lazy_getattr(globals(), _LAZY)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
