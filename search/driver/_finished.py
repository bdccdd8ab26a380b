"""A finished study's rerun: answer from the storage, without booting a worker.

Running a study whose budget is already spent used to boot every worker (each
importing TensorFlow), start and end the parent run, redraw the study report and
retrain the best model for its export: about 14 s to do nothing. Here the storage
alone says whether anything is left to do; when nothing is, the best model is
reported from its export's model card, and exported only if that export is missing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from search.driver._best import BestModel
from search.engines import TrialRecord, engine_class
from search.spec import Study
from search.workers._plan import RunPlan
from spaces.core import Url


def _budget(study: Study, trials: int | None) -> int:
    import spaces

    budget = trials if trials is not None else study.spec.search.trials
    if study.spec.search.algorithm == "grid":  # as the Optuna engine counts it: a grid ends with its points
        budget = min(budget, sum(1 for _ in spaces.iter_grid(study.space, study.spec.grid.points)))
    return budget


def finished_trials(study: Study, storage_url: Url, tracking_uri: Url, *, trials: int | None,
                    seed: int | None) -> tuple[RunPlan, list[TrialRecord]] | None:
    """The study's plan and trials when its budget is spent and nothing runs or waits; else None (work is left).

    The plan is what the storage knows (the parent run in this tracking store, the
    budget); its experiment id stays empty, since MLflow is not asked.

    Only studies of an engine without a chief, stored under this very study's fingerprint,
    qualify: any doubt (a chief's own state to reload, a changed study, a running or waiting trial that workers must
    recover or train) returns None and the run goes the usual way.
    """
    import optuna

    from search.driver._prepare import engine_label
    from search.engines._fingerprint import fingerprint
    from search.engines.optuna import to_record
    from search.storage import counts_toward_budget, get_storage

    if engine_class(study).needs_chief:  # its oracle keeps state of its own: the usual path reloads it
        return None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        stored = optuna.load_study(study_name=study.name, storage=get_storage(storage_url))
    except KeyError:
        return None
    attrs = stored.user_attrs
    if attrs.get("fingerprint") != fingerprint(study) or attrs.get("engine", "optuna") != engine_label(study):
        return None  # the usual path explains the mismatch
    frozen = stored.get_trials(deepcopy=False)
    if any(t.state in (optuna.trial.TrialState.RUNNING, optuna.trial.TrialState.WAITING) for t in frozen):
        return None
    budget = _budget(study, trials)
    if sum(counts_toward_budget(t) for t in frozen) < budget:
        return None
    s = study.spec
    seed = seed if seed is not None else s.search.seed  # as prepare_run: --seed, else the study's
    plan = RunPlan(study_name=study.name, storage_url=storage_url, tracking_uri=tracking_uri, experiment_id="",
                   parent_run_id=str(attrs.get(f"mlflow_parent_run:{tracking_uri}", "")), budget=budget,
                   deadline=None, sampler_seed=seed, train_seed=seed if seed is not None else s.data.seed,
                   workers=0)
    return plan, [to_record(t) for t in frozen]


def exported_best(study: Study, best: TrialRecord, directory: Path) -> BestModel | None:
    """The best model already exported to ``directory`` (its card names this study and trial), else None."""
    from tracking.export import read_card

    try:
        card = read_card(directory)
    except (OSError, ValueError):
        return None
    if card.get("study") != study.name or card.get("trial") != best.number:
        return None
    metrics: dict[str, Any] = card.get("metrics") or {}
    return BestModel(best, directory, dict(metrics.get("validation") or {}), dict(metrics.get("test") or {}))
