"""One slot process of ``tuneforge worker``: choose a study, train one trial, repeat.

Run as ``python -m search.workers._slot`` with its config as one JSON line on stdin (the
storage URL carries a password: never on a command line). Between trials it re-reads the
control table, so a paused or cancelled study gets no new trial and priorities take
effect at once. It beats for its running trial and fails the trials of workers that
stopped beating. It exits with ``EXIT_NO_WORK`` (0) when no study has work left,
``EXIT_RECYCLE`` after ``max_trials`` trials (its daemon starts a fresh process, so
TensorFlow's memory cannot pile up), 2 when the storage itself is unusable, 3 on a
bug, 130 when interrupted (the running trial is failed and queued for retry).
"""

from __future__ import annotations

import json
import sys
import time
import traceback
import zlib
from dataclasses import asdict, dataclass
from typing import Any

from search._lifetime import raise_if_stopping
from search.control import ACTIVE, ControlStore, Status, StudyRecord, study_order
from spaces.core import TuneforgeError, Url, resolve_storage_url, resolve_tracking_uri

EXIT_NO_WORK = 0
EXIT_FATAL = 2
EXIT_CRASH = 3
EXIT_RECYCLE = 75  # EX_TEMPFAIL: "start me again"


@dataclass
class SlotConfig:
    """What a slot process needs; handed over as JSON."""

    storage_url: Url
    worker_id: str
    study: str | None = None  # serve only this study (None: every active study)
    max_trials: int = 0  # recycle after this many trials (0: never)
    tracking_uri: Url | None = None  # overrides each study's stored tracking URI
    poll: float = 2.0  # seconds between looks while other workers finish a study's last trials
    trust_builders: bool = False  # run builder code named in the storage (if its sha256 matches the submit)

    def __post_init__(self) -> None:
        self.storage_url = resolve_storage_url(self.storage_url)
        if self.tracking_uri is not None:
            self.tracking_uri = resolve_tracking_uri(self.tracking_uri)

    def to_json(self) -> str:
        """One JSON line with the real URLs: for the slot's stdin only."""
        data = asdict(self)
        data["storage_url"] = self.storage_url.secret()
        data["tracking_uri"] = self.tracking_uri.secret() if self.tracking_uri is not None else None
        return json.dumps(data)

    @classmethod
    def from_json(cls, text: str) -> SlotConfig:
        return cls(**json.loads(text))


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class _Served:
    """Everything a slot keeps for one study it serves: engine, dataset, plan, MLflow client."""

    def __init__(self, record: StudyRecord, config: SlotConfig, store: ControlStore) -> None:
        import optuna

        from search.data import dataset_for
        from search.engines import make_engine
        from search.storage import Heartbeat, get_storage, stored_study, supports_heartbeats
        from search.workers._plan import RunPlan
        from tracking.mlflow_log import client_for
        from tracking.observer import MlflowObserver

        self.record = record
        url = config.storage_url
        optuna_study = optuna.load_study(study_name=record.name, storage=get_storage(url))
        self.study = stored_study(optuna_study)  # the spec comes from the storage, not a local file
        from search.models._trust import check_stored_builder

        check_stored_builder(self.study, record.plan.get("builder_sha256"), trusted=config.trust_builders)
        self.dataset = dataset_for(self.study)
        p = record.plan
        self.plan = RunPlan(study_name=record.name, storage_url=url,
                            tracking_uri=config.tracking_uri or record.tracking_uri,
                            experiment_id=p["experiment_id"], parent_run_id=p["parent_run_id"], budget=p["budget"],
                            deadline=record.deadline, sampler_seed=p.get("sampler_seed"),
                            train_seed=p["train_seed"], workers=2)
        index = 1 + zlib.crc32(config.worker_id.encode()) % 100_000  # distinct per process, never the first seed
        heartbeat = Heartbeat(url, interval=record.heartbeat_interval) if supports_heartbeats(url) else None

        def gate() -> bool:  # asked under the study's lock, the lock pause/cancel take
            current = store.get(record.name)
            return current is not None and current.active

        self.engine = make_engine(self.study, self.plan, worker=config.worker_id, index=index, heartbeat=heartbeat,
                                  gate=gate)
        self.client = client_for(self.plan.tracking_uri)
        self.observer = MlflowObserver(self.client, self.plan.experiment_id, self.plan.parent_run_id,
                                       dataset=self.dataset)

    def running(self) -> int:
        from optuna.trial import TrialState

        return len(self.engine.optuna_study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)))

    def recover_stale(self) -> None:
        """Fail (with one retry each) the trials of workers whose heartbeats stopped."""
        from search.storage import fail_stale_trials, supports_heartbeats
        from tracking.mlflow_log import fail_run

        if not supports_heartbeats(self.plan.storage_url):
            return
        lost = fail_stale_trials(self.plan.storage_url, self.record.name, grace=self.record.grace_period,
                                 lock=self.engine.lock)
        for trial in lost:
            log(f"study '{self.record.name}': trial {trial.number} lost its worker (no heartbeat for "
                f"{self.record.grace_period}s); {'queued for retry' if trial.retried else 'not retried again'}")
            if trial.mlflow_run_id:
                fail_run(self.client, trial.mlflow_run_id,
                         f"its worker stopped sending heartbeats (grace period {self.record.grace_period}s)")


class SlotLoop:
    """The loop of one slot process."""

    def __init__(self, config: SlotConfig) -> None:
        import optuna

        from search.storage import get_storage

        self.config = config
        self.store = ControlStore(config.storage_url)
        self.storage = get_storage(config.storage_url)
        self.served: dict[str, _Served] = {}
        self.trials_done = 0
        optuna.logging.set_verbosity(optuna.logging.WARNING)

    def candidates(self) -> list[StudyRecord]:
        if self.config.study is not None:
            record = self.store.require(self.config.study)
            return [record] if record.active else []
        return self.store.list(ACTIVE)

    def ordered(self, records: list[StudyRecord]) -> list[StudyRecord]:
        from optuna.trial import TrialState

        running, trials, present = {}, {}, []
        for r in records:
            try:
                study_id = self.storage.get_study_id_from_name(r.name)
            except KeyError:  # submitted, then deleted from the study storage
                continue
            all_trials = self.storage.get_all_trials(study_id, deepcopy=False)
            running[r.name] = sum(t.state == TrialState.RUNNING for t in all_trials)
            trials[r.name] = len(all_trials)
            present.append(r)
        return study_order(present, running=running, trials=trials)

    def served_for(self, record: StudyRecord) -> _Served | None:
        served = self.served.get(record.name)
        if served is not None and (served.record.plan != record.plan or served.record.started_at != record.started_at):
            served = None  # resubmitted with a new budget, or its clock just started
        if served is None:
            from search.models._trust import BuilderTrustError

            try:
                served = _Served(record, self.config, self.store)
            except BuilderTrustError:  # this worker's decision, not the study's fault: stop and say why
                raise
            except TuneforgeError as exc:  # this study is broken (its data cannot be loaded): not the others
                log(f"study '{record.name}' failed: {exc}")
                self.store.set_status(record.name, Status.FAILED, only_from=ACTIVE, error=str(exc))
                return None
            self.served[record.name] = served
        served.record = record
        return served

    def round(self) -> str:
        """Try the studies in order: ``trained`` one trial, ``wait`` for others' last trials, or ``none``."""
        waiting = False
        raise_if_stopping()  # a stop that a library swallowed must not start a study or take a trial
        for record in self.ordered(self.candidates()):
            if record.status is Status.QUEUED:
                self.store.start(record.name)
                record = self.store.require(record.name)
            served = self.served_for(record)
            if served is None:
                continue
            served.recover_stale()
            try:
                ticket = served.engine.ask()
                raise_if_stopping()  # swallowed meanwhile: fail the trial it took (below), queued for retry
                if ticket is not None:
                    self.train(served, ticket)
                    return "trained"
            except KeyboardInterrupt:  # between ask and training: the trial it was handed
                served.engine.fail_current("interrupted")
                raise
            if served.running():
                waiting = True  # others' trials may still fail and need a retry: stay until they finish
            else:
                self.finish_study(served)
        return "wait" if waiting else "none"

    def train(self, served: _Served, ticket: Any) -> None:
        import optuna

        from search.workers._worker import run_trial

        try:
            run_trial(served.engine, ticket, study=served.study, dataset=served.dataset,
                      train_seed=served.plan.train_seed, worker=self.config.worker_id, observers=[served.observer])
        except optuna.exceptions.UpdateFinishedTrialError:
            served.engine._stop_heartbeat()
            log(f"study '{served.record.name}': trial {ticket.number} was failed by another worker meanwhile "
                "(this worker's heartbeats were late); its result is dropped")
            return
        except TuneforgeError as exc:  # the study itself is wrong (its builder cannot be imported): not the others
            self.fail_study(served, ticket, str(exc))
            return
        self.trials_done += 1
        trial = next(t for t in served.engine.trials() if t.number == ticket.number)
        log(f"study '{served.record.name}': trial {ticket.number} {trial.state.value}"
            + (f" {served.study.metric}={trial.value:.4f}" if trial.value is not None else ""))

    def fail_study(self, served: _Served, ticket: Any, error: str) -> None:
        """Fail the trial and mark the whole study failed: every trial of it would fail the same way."""
        from spaces.core import TrialState
        from tracking.mlflow_log import fail_run

        log(f"study '{served.record.name}' failed: {error}")
        served.engine.finish(ticket, TrialState.FAIL, None, {"error": error[:2000]})
        run_id = next(t for t in served.engine.trials() if t.number == ticket.number).attrs.get("mlflow_run_id")
        if run_id:
            fail_run(served.client, run_id, error)
        self.store.set_status(served.record.name, Status.FAILED, only_from=(*ACTIVE, Status.PAUSED), error=error)
        served.client.set_terminated(served.plan.parent_run_id, status="FAILED")
        self.served.pop(served.record.name, None)

    def finish_study(self, served: _Served) -> None:
        """No trial left to hand out and none running: the study is done (once, by one worker)."""
        from tracking import mlflow_log

        if not self.store.set_status(served.record.name, Status.DONE, only_from=ACTIVE):
            return
        log(f"study '{served.record.name}' is done")
        plan = served.plan
        # another worker may still be ending its last trial's run (artifacts first): that run ends as its trial did
        mlflow_log.fail_orphan_runs(served.client, plan.experiment_id, plan.parent_run_id, running_trials=set(),
                                    reason="its worker stopped before it finished",
                                    finished_runs=mlflow_log.finished_runs_of(served.engine.trials()))
        served.client.set_terminated(plan.parent_run_id, status="FINISHED")
        try:  # the study's plots and leaderboard on its parent run, last (slow, and only a report)
            from tracking.plots import log_study_report

            log_study_report(served.client, plan.parent_run_id, served.engine.optuna_study,
                             metric=served.study.metric, direction=served.study.direction)
        except Exception as exc:  # noqa: BLE001 - a report must never fail the study
            served.client.set_tag(plan.parent_run_id, "report_error", f"{type(exc).__name__}: {exc}"[:500])

    def run(self) -> int:
        while True:
            if self.config.max_trials and self.trials_done >= self.config.max_trials:
                return EXIT_RECYCLE
            outcome = self.round()
            if outcome == "none":
                return EXIT_NO_WORK
            if outcome == "wait":
                time.sleep(self.config.poll)


def main() -> None:
    """Entry point of a slot process: its config is the first line on stdin."""
    from search._lifetime import die_with_parent

    die_with_parent()  # SIGTERM, or the daemon's death (even kill -9), stops it like Ctrl-C
    config = SlotConfig.from_json(sys.stdin.readline())
    try:
        from search.workers._worker import preload

        preload()
        sys.exit(SlotLoop(config).run())
    except TuneforgeError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        sys.exit(EXIT_FATAL)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:  # a bug: show it in the log
        traceback.print_exc()
        print(f"error: worker crashed: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        sys.exit(EXIT_CRASH)


if __name__ == "__main__":
    main()
