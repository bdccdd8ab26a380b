"""Create or resume a study in its storage, and its parent run in MLflow.

A study is stored with its spec and identity (space, data, model, objective).
Running the same study again resumes it; a study of the same name whose identity
differs is refused rather than mixed.
"""

from __future__ import annotations

import json
import time
from typing import Any

import optuna

from search.engines import engine_class
from search.engines._fingerprint import describe_difference, fingerprint, study_identity
from search.engines.optuna import searched_params
from search.storage import StudyLock, get_storage
from search.spec import Study
from search.workers._plan import RunPlan
from spaces import middle_config
from spaces.core import TuneforgeError, Url, resolve_storage_url, resolve_tracking_uri
from tracking import mlflow_log
from tracking._versions import package_versions


class StudyMismatchError(TuneforgeError):
    """A study of that name exists with a different space, data, model or objective."""


def _load_or_create(study: Study, storage: Any) -> optuna.Study:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        existing = optuna.load_study(study_name=study.name, storage=storage)
    except KeyError:
        existing = None
    if existing is None:
        created = optuna.create_study(study_name=study.name, storage=storage, direction=study.direction,
                                      load_if_exists=True)
        attrs = created.user_attrs
        if "fingerprint" not in attrs:  # we created it (not a racing process)
            created.set_user_attr("fingerprint", fingerprint(study))
            created.set_user_attr("identity", json.dumps(study_identity(study), sort_keys=True, default=str))
            created.set_user_attr("spec", json.dumps(study.spec.to_dict(), default=str))
            created.set_user_attr("base_dir", str(study.base_dir))
            created.set_user_attr("engine", engine_label(study))
            created.set_user_attr("created_at", time.time())
            if study.spec.search.first_trial == "middle":
                _enqueue_middle(study, created)
        return created
    stored = _fingerprint_of(existing)
    if stored != fingerprint(study):
        old = json.loads(existing.user_attrs.get("identity", "{}"))
        raise StudyMismatchError(
            f"study '{study.name}' already exists in this storage with a different "
            f"{describe_difference(old, study_identity(study))}",
            hint="give the changed study a new `name`, or run it against another --storage",
        )
    ran_with = existing.user_attrs.get("engine", "optuna")
    if ran_with != engine_label(study):
        raise StudyMismatchError(
            f"study '{study.name}' was run with the {ran_with.replace(':', '/')} engine and cannot continue with "
            f"{engine_label(study).replace(':', '/')} (each keeps its own search state)",
            hint="give the study a new `name` to search it with another engine, or compare engines with "
                 "`tuneforge compare`",
        )
    return existing


def _enqueue_middle(study: Study, created: optuna.Study) -> None:
    """Queue the space's middle as the new study's first trial (``search.first_trial: middle``).

    A reasonable config trained first puts a usable result on the board within one trial,
    before the sampler's random start-up trials (SMAC evaluates ConfigSpace's default
    configuration first for the same reason). Queued once, by the run that created the study.
    """
    created.enqueue_trial(searched_params(study, middle_config(study.space)), user_attrs={"first_trial": "middle"})


CREATION_WAIT_SECONDS = 60.0


def _fingerprint_of(existing: optuna.Study) -> str | None:
    """The stored fingerprint; a study another process has just created gets it a moment later: wait for it
    (a create that lost the race must compare with the winner's study, not refuse it as different)."""
    end = time.monotonic() + CREATION_WAIT_SECONDS
    while True:
        stored = existing.user_attrs.get("fingerprint")
        if stored is not None or time.monotonic() >= end:
            return stored
        time.sleep(0.2)
        existing = optuna.load_study(study_name=existing.study_name, storage=existing._storage)


def engine_label(study: Study) -> str:
    """Which engine state a study's trials belong to (the engine's ``resume_key``)."""
    return engine_class(study).resume_key(study)


def _parent_run(study: Study, optuna_study: optuna.Study, client: Any, experiment_id: str, *,
                tracking_uri: Url, data_sha256: str, seed: int | None) -> str:
    key = f"mlflow_parent_run:{tracking_uri}"
    run_id = optuna_study.user_attrs.get(key)
    if run_id:
        try:
            client.update_run(run_id, status="RUNNING")
            return run_id
        except Exception:  # noqa: BLE001 - the run was deleted: start a new one
            pass
    s = study.spec
    params = {
        "space": json.dumps(study.space.to_dict()),
        "data": json.dumps(s.data.model_dump(mode="json")),
        "data_sha256": data_sha256,
        "task": study.task,
        "model": s.model if isinstance(s.model, str) else s.model.builder,
        "engine": s.search.engine,
        "algorithm": s.search.algorithm,
        "pruner": s.search.pruner,
        "objective": f"{study.direction} {study.metric}",
        "seed": seed,
        **{f"version.{k}": v for k, v in package_versions().items()},
    }
    run_id = mlflow_log.start_parent_run(client, experiment_id, study.name, params=params,
                                         tags={"engine": s.search.engine, "algorithm": str(s.search.algorithm)})
    optuna_study.set_user_attr(key, run_id)
    return run_id


def prepare_run(study: Study, *, storage_url: str | Url, tracking_uri: str | Url, trials: int | None,
                timeout: float | None, seed: int | None, workers: int | None, data_sha256: str) -> RunPlan:
    """Create or resume the study and its parent run; returns the plan workers follow.

    Under the study's lock: two runs starting at the same instant must not both create the study
    or both start a parent run (one would be left RUNNING forever); the second resumes the first's.
    """
    with StudyLock(storage_url, study.name).hold():
        return _prepare(study, storage_url=storage_url, tracking_uri=tracking_uri, trials=trials, timeout=timeout,
                        seed=seed, workers=workers, data_sha256=data_sha256)


def _prepare(study: Study, *, storage_url: str | Url, tracking_uri: str | Url, trials: int | None,
             timeout: float | None, seed: int | None, workers: int | None, data_sha256: str) -> RunPlan:
    s = study.spec
    storage_url, tracking_uri = resolve_storage_url(storage_url), resolve_tracking_uri(tracking_uri)
    optuna_study = _load_or_create(study, get_storage(storage_url))
    client = mlflow_log.client_for(tracking_uri)
    experiment = s.tracking.experiment or study.name
    try:
        experiment_id = mlflow_log.ensure_experiment(client, experiment, tracking_uri)
    except Exception as exc:  # MlflowException: unreachable server, bad URI, refused credentials
        first = tracking_uri.scrub(str(exc).split(" failed with exception ")[0].splitlines()[0][:300])
        raise TuneforgeError(
            f"cannot use the MLflow tracking store {str(tracking_uri)!r}: {first}",
            hint="start the server (mlflow server ...) or fix --tracking-uri / MLFLOW_TRACKING_URI",
        ) from None
    sampler_seed = seed if seed is not None else s.search.seed
    parent = _parent_run(study, optuna_study, client, experiment_id, tracking_uri=tracking_uri,
                         data_sha256=data_sha256, seed=sampler_seed)
    timeout = timeout if timeout is not None else s.search.timeout
    return RunPlan(
        study_name=study.name,
        storage_url=storage_url,
        tracking_uri=tracking_uri,
        experiment_id=experiment_id,
        parent_run_id=parent,
        budget=trials if trials is not None else s.search.trials,
        deadline=time.time() + timeout if timeout else None,
        sampler_seed=sampler_seed,
        train_seed=sampler_seed if sampler_seed is not None else s.data.seed,
        workers=workers if workers is not None else s.search.workers,
    )
