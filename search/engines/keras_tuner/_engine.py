"""A worker's view of a Keras Tuner study: trials from the chief's oracle, recorded in the ledger.

The chief's oracle decides the configs. Each trial is also created in the study's
Optuna storage (the ledger: same numbering, states, attributes and intermediate
values as an Optuna study), which is what MLflow runs, ``tuneforge status``, the
study report and the export read. Keras Tuner has no pruning: Hyperband trains its
low-budget trials for fewer epochs instead (``tuner/epochs``), and each such trial
trains from epoch 0, so every trial's result depends on its config alone and the
exported best model reproduces its score.
"""

from __future__ import annotations

import json
import os
import time
import warnings
from collections.abc import Mapping
from typing import Any

import optuna
from optuna.trial import TrialState as OState

import spaces
from search._lifetime import interrupts_deferred
from search.engines._base import Engine, Ticket, TrialRecord
from search.engines.keras_tuner._oracle import config_of, hyperband_tags, silence_stray_print
from search.engines.optuna import to_record
from search.storage import LOST, get_storage
from search.spec import Study
from spaces.core import TrialState, Url

IDLE_WAIT_SECONDS = 1.0  # Hyperband waits for a round's trials before promoting the best of them
CHIEF_TIMEOUT_SECONDS = 120  # Keras Tuner's default is an hour: a worker whose chief is gone must not hang


def _ledger_params(study: Study, config: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The searched values of ``config`` with their Optuna distributions (fixed values left out)."""
    params: dict[str, Any] = {}
    distributions: dict[str, Any] = {}
    for name, val in config.items():
        try:
            param = study.space.param_of(name)
        except KeyError:
            continue  # Hyperband's epochs when the space does not search them
        dist = spaces.optuna_distribution(param)
        if dist is None:
            continue
        try:
            internal = dist.to_internal_repr(val)
        except (ValueError, TypeError):
            continue
        if not dist._contains(internal):  # noqa: SLF001 - KT's float can sit a rounding error outside
            continue
        params[name], distributions[name] = val, dist
    return params, distributions


class KerasTunerEngine(Engine):
    """Ask the chief's oracle for trials; report and finish them there and in the ledger."""

    name = "keras_tuner"
    needs_chief = True  # the run serves the oracle (search.engines.keras_tuner._chief)
    retries_lost = True  # the oracle hands a lost trial to the restarted worker with the same tuner id

    @classmethod
    def for_plan(cls, study: Study, plan: Any, *, worker: str, index: int = 0, heartbeat: Any = None,
                 gate: Any = None) -> KerasTunerEngine:
        """A Keras Tuner worker of ``plan``: its tuner id comes with the chief's address in its environment."""
        from search.engines.keras_tuner._chief import tuner_id

        return cls(study, plan.storage_url, deadline=plan.deadline, worker=worker,
                   tuner_id=os.environ.get("KERASTUNER_TUNER_ID", tuner_id(index)))

    @classmethod
    def resume_key(cls, study: Study) -> str:
        """An oracle's saved state belongs to that oracle: ``keras_tuner:<algorithm>``."""
        return f"{cls.name}:{study.spec.search.algorithm}"

    @classmethod
    def start_chief(cls, study: Study, plan: Any, *, host: str = "127.0.0.1") -> Any:
        """Keras Tuner's chief for this run: its oracle reloaded from ``.tuneforge/`` and served to the workers."""
        from search.engines.keras_tuner._chief import Chief

        chief = Chief(study, budget=plan.budget, seed=plan.sampler_seed, host=host)
        chief.start()
        return chief

    def __init__(self, study: Study, storage_url: str | Url, *, deadline: float | None = None, worker: str = "",
                 tuner_id: str) -> None:
        from keras_tuner.src.distribute import oracle_client

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
        oracle_client.TIMEOUT = CHIEF_TIMEOUT_SECONDS
        silence_stray_print()
        self.study = study
        self.direction = study.direction
        self.deadline = deadline
        self.worker = worker
        self.tuner_id = tuner_id
        self.client = oracle_client.OracleClient(oracle=None)  # reads KERASTUNER_ORACLE_IP/PORT from the env
        self.ledger = optuna.load_study(study_name=study.name, storage=get_storage(storage_url))

    # --- the contract ------------------------------------------------------------------
    def ask(self) -> Ticket | None:
        from keras_tuner.src.engine.trial import TrialStatus

        while True:
            if self.deadline is not None and time.time() >= self.deadline:
                return None
            kt_trial = self.client.create_trial(self.tuner_id)
            if kt_trial.status == TrialStatus.STOPPED:
                return None
            if kt_trial.status == TrialStatus.RUNNING:
                break
            time.sleep(IDLE_WAIT_SECONDS)  # IDLE: Hyperband is waiting for other workers' trials
        config = config_of(self.study, kt_trial.hyperparameters)
        tags = {"kt_trial": str(kt_trial.trial_id), **hyperband_tags(kt_trial.hyperparameters)}
        retry_of = self._earlier_attempt(str(kt_trial.trial_id))
        with interrupts_deferred():  # a ledger trial exists only once this worker holds it (self.current)
            trial = self._open_ledger_trial(config, tags, retry_of)
            self.current = Ticket(trial.number, config, handle=(trial, kt_trial), retry_of=retry_of, tags=tags)
        return self.current

    def report(self, ticket: Ticket, epoch: int, logs: Mapping[str, float]) -> None:
        trial, _ = ticket.handle
        if self.study.metric in logs:
            trial.report(float(logs[self.study.metric]), step=epoch)

    def finish(self, ticket: Ticket, state: TrialState, value: float | None, attrs: Mapping[str, Any]) -> None:
        from keras_tuner.src.engine.trial import TrialStatus

        trial, kt_trial = ticket.handle
        for key, attr in attrs.items():
            trial.set_user_attr(key, attr)
        if state is TrialState.COMPLETE:
            self.client.update_trial(kt_trial.trial_id, {self.study.metric: float(value)}, step=0)  # type: ignore[arg-type]
            kt_trial.status = TrialStatus.COMPLETED
            with interrupts_deferred():  # told and no longer current, or neither
                self.ledger.tell(trial, float(value))  # type: ignore[arg-type]
                self.current = None
        else:  # a failed training (NaN loss, a builder error) is a result: not retried
            kt_trial.status = TrialStatus.FAILED
            kt_trial.message = str(attrs.get("error", ""))[:500]
            with interrupts_deferred():
                self.ledger.tell(trial, state=state.to_optuna())
                self.current = None
        self.client.end_trial(kt_trial)

    def finish_lost(self, ticket: Ticket, reason: str) -> None:
        """An interrupted trial: FAIL and lost in the ledger, back to the oracle's retry queue."""
        from keras_tuner.src.engine.trial import TrialStatus

        trial, kt_trial = ticket.handle
        with interrupts_deferred(redeliver=False):
            trial.set_user_attr(LOST, reason)
            self.ledger.tell(trial, state=OState.FAIL)
            self.current = None
        kt_trial.status = TrialStatus.INVALID
        kt_trial.message = reason
        self.client.end_trial(kt_trial)

    def set_attrs(self, ticket: Ticket, attrs: Mapping[str, Any]) -> None:
        """Attach attributes to a running trial (MLflow run id, config)."""
        trial, _ = ticket.handle
        for key, attr in attrs.items():
            trial.set_user_attr(key, attr)

    def trials(self) -> list[TrialRecord]:
        return [to_record(t) for t in self.ledger.get_trials(deepcopy=False)]

    # --- the ledger --------------------------------------------------------------------
    def _earlier_attempt(self, kt_trial_id: str) -> int | None:
        """The ledger number of this Keras Tuner trial's lost attempt, if it is a retry."""
        earlier = [t.number for t in self.ledger.get_trials(deepcopy=False)
                   if t.user_attrs.get("kt_trial") == kt_trial_id]
        return max(earlier) if earlier else None

    def _open_ledger_trial(self, config: dict[str, Any], tags: dict[str, str], retry_of: int | None) -> optuna.Trial:
        params, distributions = _ledger_params(self.study, config)
        attrs: dict[str, Any] = {"worker": self.worker, "config": json.dumps(config), **tags}
        if retry_of is not None:
            attrs["retry_of"] = retry_of
        template = optuna.trial.create_trial(state=OState.RUNNING, params=params, distributions=distributions,
                                             user_attrs=attrs)
        storage = self.ledger._storage  # noqa: SLF001 - the storage API creates a RUNNING trial with its params
        trial_id = storage.create_new_trial(self.ledger._study_id, template_trial=template)  # noqa: SLF001
        return optuna.Trial(self.ledger, trial_id)
