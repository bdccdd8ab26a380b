"""A signal at the worst moment leaves no trial RUNNING and no lost trial without its retry.

Real signals, sent to this process (or to a real parent process) at the exact point where
the storage has just been written: creating a trial, failing a lost one. The signal is
sent from inside the real Optuna call (a wrapper around it), the engine and the journal
storage are the real ones.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import optuna
import pytest

from search._lifetime import interrupts_deferred, stop_on_sigterm
from search.engines.optuna import OptunaEngine
from search.spec import load_study
from search.storage import LOST, get_storage, recover_lost_trials
from tests._studies import write_study

OState = optuna.trial.TrialState


@pytest.fixture
def sigterm_interrupts():
    previous = signal.getsignal(signal.SIGTERM)
    stop_on_sigterm()
    yield
    signal.signal(signal.SIGTERM, previous)


@pytest.fixture
def engine(tmp_path):
    from search.driver._prepare import _load_or_create

    study = load_study(write_study(tmp_path, "signals", search={"algorithm": "random", "trials": 3}))
    url = f"journal:{tmp_path / 'study.journal'}"
    _load_or_create(study, get_storage(url))
    return OptunaEngine(study, url, budget=3, worker="w-1")


def trials(engine: OptunaEngine) -> list[optuna.trial.FrozenTrial]:
    return engine.optuna_study.get_trials()


def test_a_signal_inside_the_block_waits_until_it_ends(sigterm_interrupts):
    reached = []
    with pytest.raises(KeyboardInterrupt), interrupts_deferred():
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.05)  # a delivered signal would have interrupted this
        reached.append("end of block")
    assert reached == ["end of block"]

    with interrupts_deferred(redeliver=False):  # cleanup of a process already stopping: dropped
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.05)
    assert signal.getsignal(signal.SIGTERM) is not signal.SIG_IGN  # the handler is back


def test_sigterm_while_a_trial_is_created_leaves_it_failed_with_its_retry(engine, sigterm_interrupts, monkeypatch):
    real_ask = optuna.Study.ask

    def ask_then_signal(self, *args, **kwargs):
        trial = real_ask(self, *args, **kwargs)  # the trial is RUNNING in the storage now
        os.kill(os.getpid(), signal.SIGTERM)
        return trial

    monkeypatch.setattr(optuna.Study, "ask", ask_then_signal)
    with pytest.raises(KeyboardInterrupt):
        engine.ask()
    monkeypatch.undo()
    (created,) = trials(engine)
    assert created.state is OState.RUNNING and engine.current is not None  # handed over, then interrupted

    engine.fail_current("interrupted")  # what the worker loop does on its way out
    failed, retry = trials(engine)
    assert (failed.state, failed.user_attrs[LOST]) == (OState.FAIL, "interrupted")
    assert (retry.state, retry.system_attrs["failed_trial"]) == (OState.WAITING, failed.number)
    assert engine.current is None


def test_a_second_sigterm_while_failing_a_lost_trial_still_queues_its_retry(engine, sigterm_interrupts,
                                                                            monkeypatch):
    ticket = engine.ask()
    real_tell = optuna.Study.tell

    def tell_then_signal(self, *args, **kwargs):
        result = real_tell(self, *args, **kwargs)  # FAIL is written; the retry is not queued yet
        os.kill(os.getpid(), signal.SIGTERM)
        return result

    monkeypatch.setattr(optuna.Study, "tell", tell_then_signal)
    engine.finish_lost(ticket, "interrupted")  # the stop already under way: the second signal is dropped
    monkeypatch.undo()
    failed, retry = trials(engine)
    assert failed.state is OState.FAIL and retry.system_attrs["failed_trial"] == failed.number


def test_recovery_queues_the_retry_a_kill_cut_off_once(engine):
    ticket = engine.ask()
    storage = engine.optuna_study._storage
    storage.set_trial_user_attr(ticket.handle._trial_id, LOST, "interrupted")  # failed, then killed
    storage.set_trial_state_values(ticket.handle._trial_id, OState.FAIL)
    for _ in range(2):
        assert recover_lost_trials(engine.storage_url, "signals", workers=set(), reason="test") == []
    failed, retry = trials(engine)
    assert retry.state is OState.WAITING and retry.system_attrs["failed_trial"] == failed.number

    again = engine.ask()  # the retry is served first, and is not retried a second time
    assert again.retry_of == failed.number
    engine.finish_lost(again, "interrupted")
    recover_lost_trials(engine.storage_url, "signals", workers=set(), reason="test")
    assert [t.state for t in trials(engine)] == [OState.FAIL, OState.FAIL]


CHILD = """
import sys, time
from search._lifetime import die_with_parent

die_with_parent(grace=3.0)
with open(sys.argv[1], "a") as log:  # first: a signal before the log is open would go uncounted
    said = False
    while True:
        try:
            if not said:  # inside the try: a signal right after "ready" is counted too
                print("ready", flush=True)
                said = True
            time.sleep(0.05)
        except KeyboardInterrupt:
            log.write("interrupt\\n")
            log.flush()
"""

PARENT = """
import subprocess, sys, time
from search._lifetime import child_env

child = subprocess.Popen([sys.executable, "-c", sys.argv[1], sys.argv[2]], env=child_env(), stdout=subprocess.PIPE,
                         text=True)
child.stdout.readline()
print(child.pid, flush=True)
time.sleep(600)
"""


def test_a_parent_killed_with_kill_9_interrupts_its_child_once(tmp_path):
    log = tmp_path / "interrupts.log"
    parent = subprocess.Popen([sys.executable, "-c", PARENT, textwrap.dedent(CHILD), str(log)],
                              stdout=subprocess.PIPE, text=True, cwd=Path(__file__).parents[1])
    child = int(parent.stdout.readline())
    parent.kill()
    parent.wait()
    end = time.monotonic() + 30
    while time.monotonic() < end:
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        time.sleep(0.2)
    else:
        os.kill(child, signal.SIGKILL)
        pytest.fail("the orphan was not ended after its grace period")
    assert log.read_text().splitlines() == ["interrupt"]  # the kernel's signal; the watchdog adds none


# A worker process as the run starts one (die_with_parent first), with the study prepared and its plan at hand.
WORKER_WITH_A_PLAN = """
import os, signal, sys, time
from search._lifetime import die_with_parent

die_with_parent()
from search.data import dataset_for
from search.driver import prepare_run
from search.spec import load_study
from search.workers._worker import work

study_path, storage, tracking = sys.argv[1:4]
study = load_study(study_path)
plan = prepare_run(study, storage_url=storage, tracking_uri=tracking, trials=None, timeout=None, seed=None, workers=1,
                   data_sha256=dataset_for(study).info.sha256)
"""

SWALLOWING_WORKER = WORKER_WITH_A_PLAN + """
try:
    print("ready", flush=True)
    time.sleep(120)  # stands for a library that imports inside `except:` and so swallows a KeyboardInterrupt
except BaseException:
    print("swallowed", flush=True)
work(plan, "w-swallow", 0)
print("took work", flush=True)
"""


REPLACING_WORKER = WORKER_WITH_A_PLAN + """
from search.engines.optuna import OptunaEngine

real_report = OptunaEngine.report


def report_like_optunas_journal_lock(self, ticket, epoch, logs):
    if epoch == 1:
        try:
            os.kill(os.getpid(), signal.SIGINT)  # the stop lands while the report waits for the journal lock...
            time.sleep(30)
        except BaseException:  # ...and the lock's release raises over it, as optuna/storages/journal/_file.py does
            raise FileNotFoundError("[Errno 2] No such file or directory: 'optuna.journal.lock-x.rename'") from None
    return real_report(self, ticket, epoch, logs)


OptunaEngine.report = report_like_optunas_journal_lock
work(plan, "w-lock", 0)
print("trained on", flush=True)
"""


def test_a_stop_that_a_library_turned_into_an_error_loses_the_trial_rather_than_failing_it(tmp_path):
    """Ctrl-C while an epoch's report waits for Optuna's journal-file lock: the lock's cleanup raises
    FileNotFoundError over the KeyboardInterrupt. Seen in a suite run: the trial ended FAIL with that
    error, was not retried, and the resumed study counted a failure the user never caused."""
    from tests.test_run_cli import journal, local_env, tracking

    path = write_study(tmp_path, "replaced", search={"algorithm": "random", "trials": 2},
                       fixed={"epochs": 4, "batch_size": 64, "patience": 0})
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(REPLACING_WORKER), str(path), journal(tmp_path),
                           tracking(tmp_path)], capture_output=True, text=True, timeout=180, check=False,
                          cwd=Path(__file__).parents[1], env=local_env(tmp_path))
    assert "trained on" not in proc.stdout and proc.returncode != 0, proc.stderr[-3000:]
    assert "KeyboardInterrupt" in proc.stderr
    study = optuna.load_study(study_name="replaced", storage=get_storage(journal(tmp_path)))
    lost, retry = study.get_trials()
    assert (lost.state, lost.user_attrs.get(LOST), lost.user_attrs.get("first_trial")) == (
        OState.FAIL, "interrupted", "middle")
    assert "error" not in lost.user_attrs  # not a trial failure: the stop's
    assert (retry.state, retry.system_attrs["failed_trial"]) == (OState.WAITING, lost.number)


def test_a_worker_whose_interrupt_was_swallowed_takes_no_trial(tmp_path):
    """The daemon's SIGINT reached a slot while a library swallowed it (during its imports): the real worker
    loop must still stop before asking, or it takes a trial (a queued retry) only to abandon it."""
    from tests.test_run_cli import journal, local_env, tracking

    path = write_study(tmp_path, "swallow", search={"algorithm": "random", "trials": 2})
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(SWALLOWING_WORKER), str(path), journal(tmp_path),
                             tracking(tmp_path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=Path(__file__).parents[1], env=local_env(tmp_path))
    assert proc.stdout.readline().strip() == "ready", proc.stderr.read()[-3000:]
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert out.split() == ["swallowed"], err[-3000:]
    assert proc.returncode != 0 and "KeyboardInterrupt" in err
    study = optuna.load_study(study_name="swallow", storage=get_storage(journal(tmp_path)))
    # it asked for nothing: the study's queued first trial (the space's middle) is still waiting
    assert [(t.state, t.user_attrs.get("first_trial")) for t in study.get_trials()] == [(OState.WAITING, "middle")]


def test_a_retry_its_stopping_worker_took_but_never_trained_is_queued_again(engine):
    """A worker stopped while taking a retry (the signal came during ask) never trained it: that uses up no
    attempt, so the retry is queued again; a retry that trained and was lost is not (test above)."""
    first = engine.ask()
    engine.finish_lost(first, "interrupted")
    retry = engine.ask()
    assert retry.retry_of == first.number
    engine.fail_current("interrupted")  # what the worker loop does when the interrupt lands before training
    failed, lost_retry, again = trials(engine)
    assert (failed.state, lost_retry.state, again.state) == (OState.FAIL, OState.FAIL, OState.WAITING)
    assert again.system_attrs["failed_trial"] == lost_retry.number
    assert again.system_attrs["retry_history"] == [failed.number, lost_retry.number]
