"""How trial runs left RUNNING in MLflow are ended: as their trial ended, or FAILED when nobody knows.

A worker records a trial's result in the study storage first, then uploads its
artifacts and ends its MLflow run. A worker that finishes the study in that window
(or after that worker died) must not turn the COMPLETE trial into a FAILED run.
Real MLflow (SQLite) and Optuna (SQLite) stores; no training.
"""

from __future__ import annotations

from search.control import ControlStore, Status
from search.driver._submit import submit_study
from search.spec import load_study
from spaces.core import TrialState
from search.workers._slot import SlotConfig, SlotLoop
from tests._mlflow import study_runs
from tests._studies import write_study
from tracking.mlflow_log import TrialRun, client_for, ensure_experiment, fail_orphan_runs, start_parent_run


def test_orphan_runs_end_as_their_trial_did_and_unknown_ones_fail(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = client_for(uri)
    experiment = ensure_experiment(client, "ends", uri)
    parent = start_parent_run(client, experiment, "ends", params={}, tags={})

    def trial_run(number: int) -> str:
        return TrialRun(client, experiment, parent, study_name="ends", trial_number=number, worker="w",
                        config={"units": 8}).run_id

    complete, pruned, failed, unknown, running = (trial_run(n) for n in range(5))
    finished = {complete: TrialState.COMPLETE, pruned: TrialState.PRUNED, failed: TrialState.FAIL}
    failed_ids = fail_orphan_runs(client, experiment, parent, running_trials={4}, reason="its worker died",
                                  finished_runs=finished)

    assert failed_ids == [unknown]
    ended = {run_id: client.get_run(run_id) for run_id in (complete, pruned, failed, unknown, running)}
    assert (ended[complete].info.status, ended[complete].data.tags["state"]) == ("FINISHED", "COMPLETE")
    assert (ended[pruned].info.status, ended[pruned].data.tags["state"]) == ("FINISHED", "PRUNED")
    assert (ended[failed].info.status, ended[failed].data.tags["state"]) == ("FAILED", "FAIL")
    assert "error" not in ended[complete].data.tags
    assert (ended[unknown].info.status, ended[unknown].data.tags["error"]) == ("FAILED", "its worker died")
    assert ended[running].info.status == "RUNNING"  # its trial still runs: its worker ends it


def test_the_worker_that_finishes_a_study_keeps_another_workers_complete_trial_finished(tmp_path, monkeypatch):
    """Reproduces a race seen in CI: slot A finishes the study while slot B still uploads its last artifacts."""
    monkeypatch.chdir(tmp_path)
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    tracking = f"sqlite:///{tmp_path / 'mlflow.db'}"
    study = load_study(write_study(tmp_path, "race", search={"trials": 1}))
    submit_study(study, storage_url=storage, tracking_uri=tracking, heartbeat_interval=10, grace_period=60)

    # slot B: takes the only trial, records its result, has not ended its MLflow run yet
    slot_b = SlotLoop(SlotConfig(storage_url=storage, worker_id="host-1-s0", study="race"))
    control = ControlStore(storage)
    control.start("race")
    served_b = slot_b.served_for(control.require("race"))
    ticket = served_b.engine.ask()
    run = TrialRun(served_b.client, served_b.plan.experiment_id, served_b.plan.parent_run_id, study_name="race",
                   trial_number=ticket.number, worker="host-1-s0", config=ticket.config)
    served_b.engine.set_attrs(ticket, {"mlflow_run_id": run.run_id})
    served_b.engine.finish(ticket, TrialState.COMPLETE, 0.9, {})

    # slot A: nothing left to ask, nothing RUNNING in the study storage: it finishes the study
    slot_a = SlotLoop(SlotConfig(storage_url=storage, worker_id="host-2-s0", study="race"))
    assert slot_a.round() == "none"
    assert control.require("race").status is Status.DONE

    trial_runs = study_runs(tracking, "race").trials
    assert trial_runs[0].info.status == "FINISHED", trial_runs[0].data.tags.get("error")
    assert trial_runs[0].data.tags["state"] == "COMPLETE"
    run.finish(TrialState.COMPLETE, objective=0.9, metric="val_accuracy")  # slot B ends it too: same outcome
    assert study_runs(tracking, "race").trials[0].info.status == "FINISHED"
