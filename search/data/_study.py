"""The dataset a study declares."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from search.spec import Study


def dataset_for(study: Study) -> Any:
    """Load (memoized per process) the study's data with its splits."""
    from search.data._load import load_data

    d = study.spec.data
    validation = d.validation.folds if hasattr(d.validation, "folds") else d.validation
    return load_data(d.dataset, task=study.task, validation=validation, test=d.test, seed=d.seed,
                     base_dir=study.base_dir)
