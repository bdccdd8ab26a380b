"""Trials lost to a dead or interrupted worker: fail them and queue one retry copy each."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

import optuna
from optuna.trial import TrialState as OState

from search.storage._open import get_storage
from spaces.core import Url

LOST = "lost"  # user attr on a FAIL trial whose worker died or was interrupted: it has a retry copy


def enqueue_retry(study: optuna.Study, trial: optuna.trial.FrozenTrial, *, untried: bool = False) -> bool:
    """Queue one retry copy of a lost trial (a retry that trained is never retried again); True if queued.

    ``untried``: the trial was lost before it trained (its worker was stopped while taking it), so
    it used up no attempt: even a retry gets its copy.
    """
    if "failed_trial" in trial.system_attrs and not untried:
        return False
    study.add_trial(optuna.trial.create_trial(
        state=OState.WAITING,
        params=trial.params,
        distributions=trial.distributions,
        system_attrs={"failed_trial": trial.number,
                      "retry_history": [*trial.system_attrs.get("retry_history", []), trial.number]},
    ))
    return True


def queue_missing_retries(study: optuna.Study) -> list[int]:
    """Queue the retry of every lost trial that has none (and is no retry itself); returns their numbers."""
    trials = study.get_trials(deepcopy=False)
    retried = {t.system_attrs.get("failed_trial") for t in trials}
    missing = [t for t in trials if t.state == OState.FAIL and LOST in t.user_attrs
               and t.number not in retried and "failed_trial" not in t.system_attrs]
    return [t.number for t in missing if enqueue_retry(study, t)]


def counts_toward_budget(trial: optuna.trial.FrozenTrial) -> bool:
    """Finished and running trials count; lost ones (replaced by a retry) and waiting ones do not."""
    if trial.state in (OState.COMPLETE, OState.PRUNED, OState.RUNNING):
        return True
    return trial.state == OState.FAIL and LOST not in trial.user_attrs


@dataclass
class LostTrial:
    """A trial that was RUNNING when its worker went away."""

    number: int
    mlflow_run_id: str | None
    retried: bool


def recover_lost_trials(storage_url: str | Url, study_name: str, *, workers: Collection[str] | None,
                        reason: str, retry: bool = True) -> list[LostTrial]:
    """Fail the RUNNING trials of ``workers`` (all when ``None``) and enqueue a retry of each.

    A trial that is itself a retry is not retried again: each trial gets exactly one retry copy.
    ``retry=False`` only fails them (an engine that retries trials itself, like Keras Tuner's).
    With ``retry``, a trial some worker failed as lost without queuing its retry (killed with
    ``kill -9`` in between) gets its retry now. Call it under the study's lock.
    """
    storage = get_storage(storage_url)
    study = optuna.load_study(study_name=study_name, storage=storage)
    if retry:
        queue_missing_retries(study)
    lost: list[LostTrial] = []
    for trial in study.get_trials(deepcopy=False, states=(OState.RUNNING,)):
        if workers is not None and trial.user_attrs.get("worker") not in workers:
            continue
        try:
            storage.set_trial_user_attr(trial._trial_id, LOST, reason)
            if not storage.set_trial_state_values(trial._trial_id, OState.FAIL):
                continue
        except optuna.exceptions.UpdateFinishedTrialError:
            continue  # the worker finished it after all
        retried = enqueue_retry(study, trial) if retry else False
        lost.append(LostTrial(trial.number, trial.user_attrs.get("mlflow_run_id"), retried))
    return lost
