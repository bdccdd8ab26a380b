"""``validate``'s look at the data itself: the file's columns, target and types, and the split's size.

Only when that is cheap: a study's own CSV/NPZ file up to ``MAX_BYTES`` is read with the
reader ``run`` uses (numpy and pandas, never TensorFlow or scikit-learn), so ``validate``
fails where ``run`` would; bundled datasets are known good and are not loaded; a download
is never started.
"""

from __future__ import annotations

import math
from pathlib import Path

from search.spec import Study

MAX_BYTES = 50 * 2**20
TIE_PRONE_ROWS = 100  # fewer validation rows than this: accuracy moves in steps of 1 point or more
BUNDLED_ROWS = {"digits": 1797, "iris": 150, "wine": 178, "breast_cancer": 569, "diabetes": 442,
                "mnist_5k": 5000, "boston_housing": 506}


def _rows_and_task(study: Study) -> tuple[int | None, str | None]:
    """The rows and task of the data, reading a small file (raises its DataError); (None, None) if not cheap."""
    dataset = study.spec.data.dataset
    if isinstance(dataset, str):
        return BUNDLED_ROWS.get(dataset), study.task
    from search.data._files import CsvSpec, read_csv, read_npz
    from search.data._source import parse_source
    from search.data._target import resolve_target

    spec = parse_source(dataset, study.base_dir)
    path = Path(spec.path)
    if path.is_file() and path.stat().st_size > MAX_BYTES:
        return None, None
    raw = read_csv(spec) if isinstance(spec, CsvSpec) else read_npz(spec)
    _, task, _ = resolve_target(raw, study.task)
    return len(raw.x), task


def check_data(study: Study) -> list[str]:
    """Check the study's data file when cheap (raising its DataError) and return warnings about the split."""
    rows, task = _rows_and_task(study)
    d = study.spec.data
    if rows is None or task == "regression" or hasattr(d.validation, "folds"):
        return []
    pool = rows - math.ceil(d.test * rows)
    n_val = math.ceil(d.validation * pool)  # type: ignore[operator]
    if n_val >= TIE_PRONE_ROWS:
        return []
    return [f"data.validation: the validation split holds only {n_val} rows, so {study.metric} moves in steps of "
            f"{100.0 / max(1, n_val):.1f} points and trials will often tie (ties go to the lower validation "
            f"loss); consider validation: {{folds: 5}} to score every trial on all {pool} training rows"]
