"""Two recovery defects, each shown on real storages.

1. ``Supervisor._recover`` must run under the study's lock: failing a lost trial and
   queueing its retry copy is one step for workers counting the budget (between the two,
   a worker saw one trial fewer and no waiting retry, and started an extra trial).
2. A RUNNING trial that never got a heartbeat row (its worker died between starting it
   and its first beat) must be failed after the grace period, not waited on for ever.
"""

from __future__ import annotations

import threading
import time

import optuna
import pytest

from search.workers import RunPlan
from search.storage import StudyLock
from search.storage import get_storage
from search.executors._local import LocalProcesses as Supervisor
from tests._postgres import cli_env, fresh_database_url
from tests._studies import write_study
from tests.conftest import run_cli

OState = optuna.trial.TrialState


def test_supervisor_recovery_waits_for_the_study_lock(tmp_path):
    url = f"journal:{tmp_path / 'optuna.journal'}"
    study = optuna.create_study(study_name="locked", storage=get_storage(url))
    trial = study.ask()
    trial.set_user_attr("worker", "host-1-w0")
    supervisor = Supervisor([], tmp_path / "logs")
    supervisor.plan = RunPlan(study_name="locked", storage_url=url, tracking_uri="", experiment_id="0",
                              parent_run_id="", budget=1, deadline=None, sampler_seed=None, train_seed=0, workers=1)
    done = threading.Event()
    with StudyLock(url, "locked").hold():  # a worker counting the budget right now
        recovery = threading.Thread(target=lambda: (supervisor._recover({"host-1-w0"}, "died"), done.set()))
        recovery.start()
        done.wait(5.0)  # long enough for an unlocked recovery to have failed the trial
        states = [t.state for t in optuna.load_study(study_name="locked", storage=get_storage(url)).get_trials()]
        assert not done.is_set() and states == [OState.RUNNING], "recovery went ahead under a worker's lock"
    recovery.join(60)
    states = [t.state for t in optuna.load_study(study_name="locked", storage=get_storage(url)).get_trials()]
    assert done.is_set() and states == [OState.FAIL, OState.WAITING]  # failed and its retry queued, in one step
    assert [t.number for t in supervisor.report.lost] == [0]


@pytest.mark.slow
@pytest.mark.postgres
def test_a_worker_fails_a_running_trial_that_never_had_a_heartbeat(tmp_path):
    urls = fresh_database_url()
    url = next(urls)
    try:
        path = write_study(tmp_path, "ghost", search={"trials": 1, "algorithm": "random"},
                           fixed={"epochs": 1, "batch_size": 64, "patience": 0})
        env = cli_env(tmp_path)
        result = run_cli("submit", str(path), "--storage", url, "--tracking-uri", f"sqlite:///{tmp_path / 'm.db'}",
                         "--heartbeat-interval", "1", "--grace-period", "2", cwd=tmp_path, env=env)
        assert result.code == 0, result.stderr[-2000:]
        study = optuna.load_study(study_name="ghost", storage=get_storage(url))
        ghost = study.ask()  # RUNNING, counted in the budget, and no heartbeat row: its worker died at once
        ghost.set_user_attr("worker", "elsewhere-1-s0-p1")
        time.sleep(3)  # past the grace period
        result = run_cli("worker", "--storage", url, "--study", "ghost", cwd=tmp_path, env=env, timeout=300)
        assert result.code == 0, result.stderr[-3000:]
        trials = optuna.load_study(study_name="ghost", storage=get_storage(url)).get_trials()
        assert trials[0].state is OState.FAIL and "heartbeats" in trials[0].user_attrs["lost"]
        assert [t.state for t in trials[1:]] == [OState.COMPLETE]
        assert trials[1].system_attrs["failed_trial"] == 0
    finally:
        urls.close()
