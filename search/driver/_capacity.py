"""How many trials a run can still start: more workers than that would only boot and exit."""

from __future__ import annotations

from search.spec import Study
from search.storage import Url


def trials_left(study: Study, storage_url: Url, trials: int | None) -> int:
    """The budget (``--trials`` or the study's) minus the trials already counted in the storage (read only)."""
    budget = trials if trials is not None else study.spec.search.trials
    if storage_url.local_path is not None and not storage_url.local_path.is_file():
        return budget  # a new local storage: nothing counted yet (and nothing created here)
    import optuna

    from search.storage import counts_toward_budget, get_storage

    try:
        stored = optuna.load_study(study_name=study.name, storage=get_storage(storage_url))
    except KeyError:
        return budget
    done = sum(counts_toward_budget(t) and t.state.is_finished() for t in stored.get_trials(deepcopy=False))
    return max(0, budget - done)
