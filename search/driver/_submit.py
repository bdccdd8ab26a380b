"""``tuneforge submit``: register a study (its spec, plan and MLflow parent run) for workers to run."""

from __future__ import annotations

from typing import Any

from search.control import ControlStore, StudyRecord
from spaces import SpecError


def submit_study(study: Any, *, storage_url: str, tracking_uri: str, trials: int | None = None,
                 timeout: float | None = None, seed: int | None = None, priority: int = 0,
                 heartbeat_interval: int, grace_period: int) -> StudyRecord:
    """Create (or resume) the study in its storage and queue it in the control table; nothing is trained.

    The data is loaded once here, so a study whose data cannot be read is refused now,
    not by every worker later.
    """
    from search.data import dataset_for
    from search.engines import engine_class
    from search.driver._prepare import prepare_run

    if engine_class(study).needs_chief:
        raise SpecError(
            f"`tuneforge worker` runs engine: optuna studies; this one is engine: {study.spec.search.engine}",
            path=("search", "engine"), source=study.source,
            hint="run it on one machine with `tuneforge run`, or use engine: optuna (algorithm: grid for a grid)",
        )
    if grace_period <= heartbeat_interval:
        raise SpecError(f"the grace period ({grace_period}s) must be longer than the heartbeat interval "
                        f"({heartbeat_interval}s)", path=("--grace-period",),
                        hint="use at least 3 heartbeat intervals, e.g. --heartbeat-interval 10 --grace-period 60")
    store = ControlStore(storage_url)  # tables first: a bad URL fails before the data is loaded
    dataset = dataset_for(study)
    plan = prepare_run(study, storage_url=storage_url, tracking_uri=tracking_uri, trials=trials, timeout=None,
                       seed=seed, workers=None, data_sha256=dataset.info.sha256)
    timeout = timeout if timeout is not None else study.spec.search.timeout
    builder_sha256 = None  # what a trusting worker checks the builder's source against (search.models._trust)
    if not isinstance(study.spec.model, str):
        from search.models._trust import locate_builder

        builder_sha256 = locate_builder(study.spec.model.builder, study.base_dir).sha256
    return store.submit(
        study.name, spec=study.spec.to_dict(), tracking_uri=tracking_uri, priority=priority,
        heartbeat_interval=heartbeat_interval, grace_period=grace_period,
        plan={"experiment_id": plan.experiment_id, "parent_run_id": plan.parent_run_id, "budget": plan.budget,
              "timeout": timeout, "sampler_seed": plan.sampler_seed, "train_seed": plan.train_seed,
              "builder_sha256": builder_sha256},
    )
