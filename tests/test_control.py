"""Study control: the control table, study order, and pause / resume / cancel honoured by a live worker."""

from __future__ import annotations

import signal

import optuna
import pytest
import sqlalchemy

from search.control import ControlError, ControlStore, Status, StudyRecord, change_status, study_order
from search.storage import control_url
from search.storage import get_storage
from spaces import TuneforgeError
from tests._postgres import cli_env, fresh_database_url, start_cli, wait_for
from tests._studies import write_study
from tests.conftest import run_cli

OState = optuna.trial.TrialState


def record(name: str, priority: int = 0, submitted_at: float = 0.0) -> StudyRecord:
    return StudyRecord(name=name, status=Status.RUNNING, priority=priority, spec={}, plan={}, tracking_uri="",
                       heartbeat_interval=10, grace_period=60, error=None, submitted_at=submitted_at,
                       started_at=None, updated_at=0.0, finished_at=None)


def test_study_order_serves_priorities_first_and_shares_equal_ones():
    a, b, c = record("a", 0, 1.0), record("b", 0, 2.0), record("urgent", 5, 3.0)
    assert [r.name for r in study_order([a, b, c], running={}, trials={})] == ["urgent", "a", "b"]
    # equal priorities: the study with fewer running trials, then fewer trials so far, goes first
    assert [r.name for r in study_order([a, b], running={"a": 1}, trials={})] == ["b", "a"]
    assert [r.name for r in study_order([a, b], running={}, trials={"a": 3, "b": 2})] == ["b", "a"]
    assert study_order([a, b, c], running={"urgent": 9}, trials={"urgent": 99})[0].name == "urgent"


def test_control_table_is_created_once_versioned_and_refuses_a_newer_schema(tmp_path):
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    first, second = ControlStore(url), ControlStore(url)  # the second finds the tables
    first.submit("s", spec={"name": "s"}, plan={"budget": 3}, tracking_uri="sqlite:///m.db", priority=2,
                 heartbeat_interval=10, grace_period=60)
    got = second.require("s")
    assert (got.status, got.priority, got.plan, got.started_at) == (Status.QUEUED, 2, {"budget": 3}, None)
    assert second.start("s") and not second.start("s")  # queued -> running once; the clock starts then
    assert second.require("s").status is Status.RUNNING and second.require("s").started_at is not None
    with first.engine.begin() as conn:
        assert conn.execute(sqlalchemy.text("SELECT version FROM tuneforge_schema")).scalars().all() == [1]
        conn.execute(sqlalchemy.text("UPDATE tuneforge_schema SET version = 99"))
    with pytest.raises(TuneforgeError, match="schema version 99, newer"):
        ControlStore(url)
    assert str(control_url("journal:/tmp/x/optuna.journal")) == "sqlite:////tmp/x/optuna.journal.control.db"


def test_status_changes_follow_the_rules(tmp_path):
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    store = ControlStore(url)
    store.submit("s", spec={}, plan={}, tracking_uri="sqlite:///m.db", priority=0, heartbeat_interval=10,
                 grace_period=60)
    with pytest.raises(ControlError, match="cannot resume study 's': it is queued"):
        change_status(url, "s", "resume")
    assert [r.status for r in change_status(url, "s", "pause")] == [Status.QUEUED, Status.PAUSED]
    assert change_status(url, "s", "resume")[1].status is Status.QUEUED  # never started: queued again
    assert change_status(url, "s", "cancel")[1].status is Status.CANCELLED
    with pytest.raises(ControlError, match="it is cancelled"):
        change_status(url, "s", "pause")
    with pytest.raises(ControlError, match="no submitted study named 'nope'.*submitted: s"):
        store.require("nope")


def test_control_commands_give_clear_errors(tmp_path):
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    result = run_cli("pause", "nope", "--storage", url, cwd=tmp_path, env=cli_env(tmp_path))
    assert result.code == 2 and "Traceback" not in result.stderr
    assert "no submitted study named 'nope'" in result.stderr and "tuneforge submit" in result.stderr
    result = run_cli("worker", "--storage", url, cwd=tmp_path, env=cli_env(tmp_path))
    assert result.code == 2 and "exactly one of --study NAME or --all" in result.stderr


@pytest.fixture
def pg_url():
    yield from fresh_database_url()


def _trials(url: str, name: str) -> list[optuna.trial.FrozenTrial]:
    return optuna.load_study(study_name=name, storage=get_storage(url)).get_trials()


def _finished(url: str, name: str) -> int:
    return sum(t.state.is_finished() for t in _trials(url, name))


@pytest.mark.slow
@pytest.mark.postgres
def test_pause_resume_cancel_while_another_study_keeps_running(tmp_path, pg_url):
    from search.driver._submit import submit_study
    from search.spec import load_study

    tracking = f"sqlite:///{tmp_path / 'mlflow.db'}"
    for name, trials in (("alpha", 8), ("beta", 6)):
        path = write_study(tmp_path, name, fixed={"epochs": 1, "batch_size": 128, "patience": 0},
                           search={"algorithm": "random", "trials": trials})
        submit_study(load_study(path), storage_url=pg_url, tracking_uri=tracking, heartbeat_interval=2,
                     grace_period=20)
    worker = start_cli(tmp_path, "worker", "--storage", pg_url, "--all", "--wait", "--workers", "1", "--poll", "1",
                       log="worker.log")
    control = lambda *args: run_cli(*args, "--storage", pg_url, cwd=tmp_path, env=cli_env(tmp_path))  # noqa: E731
    try:
        wait_for(lambda: _finished(pg_url, "alpha") >= 1, what="alpha's first trial", procs=[worker])
        paused = control("pause", "alpha")
        assert paused.code == 0 and "running -> paused" in paused.stdout, paused.stderr
        at_pause = {t.number for t in _trials(pg_url, "alpha")}
        beta_at_pause = _finished(pg_url, "beta")
        wait_for(lambda: _finished(pg_url, "beta") >= beta_at_pause + 2, what="beta to keep running",
                 procs=[worker])
        assert {t.number for t in _trials(pg_url, "alpha")} == at_pause  # no new trial while paused
        assert ControlStore(pg_url).require("alpha").status is Status.PAUSED

        assert control("resume", "alpha").code == 0
        wait_for(lambda: any(t.number not in at_pause and t.state.is_finished() for t in _trials(pg_url, "alpha")),
                 what="alpha to continue after resume", procs=[worker])
        cancelled = control("cancel", "alpha")
        assert cancelled.code == 0 and "-> cancelled" in cancelled.stdout, cancelled.stderr
        at_cancel = {t.number for t in _trials(pg_url, "alpha")}
        wait_for(lambda: ControlStore(pg_url).require("beta").status is Status.DONE, what="beta to finish",
                 procs=[worker])
        wait_for(lambda: all(t.state.is_finished() for t in _trials(pg_url, "alpha")), what="alpha's last trial")
    finally:
        worker.send_signal(signal.SIGTERM)
        code = worker.wait(timeout=120)
    log = (tmp_path / "worker.log").read_text()
    assert code == 130 and "Traceback" not in log, log[-3000:]

    alpha = _trials(pg_url, "alpha")
    assert {t.number for t in alpha} == at_cancel  # cancelled: no new trials
    assert len(alpha) >= 2 and all(t.state is OState.COMPLETE for t in alpha)  # its finished trials are kept
    assert len(alpha) < 8
    assert ControlStore(pg_url).require("alpha").status is Status.CANCELLED
    beta = _trials(pg_url, "beta")
    assert len(beta) == 6 and all(t.state is OState.COMPLETE for t in beta)
    status = control("status")
    assert status.code == 0
    lines = {line.split("│")[1].strip(): line for line in status.stdout.splitlines() if line.count("│") > 3}
    assert "cancelled" in lines["alpha"] and f"{len(alpha)}/8" in lines["alpha"]
    assert "done" in lines["beta"] and "6/6" in lines["beta"]
    from mlflow import MlflowClient

    parent = MlflowClient(tracking).get_run(ControlStore(pg_url).require("alpha").plan["parent_run_id"])
    assert parent.info.status == "KILLED"
