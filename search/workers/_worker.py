"""One worker process: join the study, then ask, train, report and finish until the budget is spent.

Run as ``python -m search.workers WORKER_ID INDEX``; it imports TensorFlow first, then
reads ``{"plan": RunPlan, "env": {...}}`` as one JSON line on stdin (the supervisor
sends it once the study is prepared; end of input without it: exit 0, nothing to do).
Exit status 0 when the budget is spent, 2 when the study itself is broken (the error is printed on one
line), 3 on an unexpected exception (a bug: the traceback is in the log), 130 when
interrupted (the running trial is failed and queued for retry).
"""

from __future__ import annotations

import contextlib
import functools
import gc
import json
import os
import sys
import traceback
from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import Any, TextIO

from search._lifetime import raise_if_stopping
from search.workers._plan import RunPlan
from spaces.core import TrialEnd, TrialInfo, TrialObserver, TrialState, TuneforgeError

EXIT_CRASH = 3  # an unexpected exception: a bug, restarting would only repeat it


@functools.cache  # once per process: preload() and work() both call it
def _configure_threads() -> None:
    from search._quiet import import_tensorflow_quietly

    import_tensorflow_quietly()
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")  # one "retracing" warning per trial would drown the worker log
    intra = int(os.environ.get("TF_NUM_INTRAOP_THREADS", "0"))
    inter = int(os.environ.get("TF_NUM_INTEROP_THREADS", "0"))
    try:
        if intra:
            tf.config.threading.set_intra_op_parallelism_threads(intra)
        if inter:
            tf.config.threading.set_inter_op_parallelism_threads(inter)
    except RuntimeError:  # TensorFlow already started (in-process use): keep its threads
        pass
    from search.workers._tf_device import configure_device

    configure_device(tf)  # the slot's GPU memory limit, or the CPU when no GPU is visible (one log line)


def _trial_info(ticket: Any, study: Any, worker: str) -> TrialInfo:
    tags = dict(ticket.tags)
    tags.update({tag: os.environ[var] for tag, var in (("slot", "TUNEFORGE_SLOT"), ("device", "TUNEFORGE_DEVICE"))
                 if var in os.environ})  # where the trial ran (search.workers._devices)
    if ticket.retry_of is not None:
        tags["retry_of"] = str(ticket.retry_of)
    return TrialInfo(ticket.number, ticket.config, study.name, study.metric, worker, tags)


def run_trial(engine: Any, ticket: Any, *, study: Any, dataset: Any, train_seed: int, worker: str,
              observers: Sequence[TrialObserver] = ()) -> None:
    """Train one ticket, record it in the engine, and tell the observers (begin, each epoch, end or lost)."""
    from search._lifetime import interrupts_deferred
    from search.training import train_config

    info = _trial_info(ticket, study, worker)
    try:
        attrs: dict[str, Any] = {"config": json.dumps(ticket.config)}
        for observer in observers:
            attrs.update(observer.on_trial_begin(info))
        engine.set_attrs(ticket, attrs)
        if ticket.duplicate_of is not None:
            original = next(t for t in engine.trials() if t.number == ticket.duplicate_of)
            engine.finish(ticket, TrialState.COMPLETE, original.value, {"duplicate_of": ticket.duplicate_of})
            end = TrialEnd(TrialState.COMPLETE, original.value, tags={"duplicate_of": str(ticket.duplicate_of)})
            for observer in observers:
                observer.on_trial_end(info, end)
            return

        def report(epoch: int, logs: dict[str, float]) -> None:
            for observer in observers:
                observer.on_epoch_end(info, epoch, logs)
            engine.report(ticket, epoch, logs)

        result = train_config(ticket.config, dataset, model_kind=study.spec.model, metric=study.metric,
                              direction=study.direction, report=report, seed=train_seed,
                              search_path=study.base_dir, keep_model=True)
        if result.state is TrialState.FAIL:
            # A stop that a library turned into an error is still a stop: the trial is lost (retried),
            # not failed. Optuna's journal-file lock does it: a Ctrl-C while an epoch's report waits for
            # the lock ends in ``except BaseException: self.release(); raise``, and the release raises
            # FileNotFoundError over the KeyboardInterrupt.
            raise_if_stopping()
    except KeyboardInterrupt:
        with interrupts_deferred(redeliver=False):  # a second signal must not leave it half failed
            engine.finish_lost(ticket, "interrupted")
            for observer in observers:
                observer.on_trial_lost(info, "interrupted")
        raise
    attrs = {"epochs": result.epochs_trained, "n_params": result.n_params, "seconds": round(result.seconds, 3)}
    if "val_loss" in result.best_metrics:  # best_of breaks ties on the objective by it
        attrs.update(val_loss=float(result.best_metrics["val_loss"]), best_epoch=result.best_epoch)
    if result.error:
        attrs["error"] = result.error
    engine.finish(ticket, result.state, result.objective, attrs)
    end = TrialEnd(result.state, result.objective, error=result.error, result=result,
                   extra={"n_params": result.n_params, "epochs_trained": result.epochs_trained},
                   tags={"pruned_at_epoch": str(result.epochs_trained - 1)}
                   if result.state is TrialState.PRUNED else {})
    for observer in observers:
        observer.on_trial_end(info, end)
    result.model = None  # free the model before the next trial


@contextlib.contextmanager
def _existing_objects_frozen() -> Iterator[None]:
    """The objects that exist now are skipped by the garbage collector for the block, then scanned again.

    Keras's ``clear_session()`` before each trial runs a full ``gc.collect()``, which walks every
    object of the process: a notebook's or a test session's hundreds of thousands add 0.3-0.5 s per
    trial. Frozen after one collection (so no garbage is kept), they are not walked. A process that
    froze its own objects already (a worker after :func:`preload`, a caller) is left as it is.
    """
    if gc.get_freeze_count():
        yield
        return
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def work(plan: RunPlan, worker_id: str, index: int, *, dataset: Any = None,
         observers: Sequence[TrialObserver] | None = None, also: Sequence[TrialObserver] = ()) -> int:
    """The worker loop, callable in-process (a Ray actor calls it): ask, train, tell until the budget is spent.

    ``dataset`` given: no data files are loaded here. ``observers`` default to MLflow logging with the
    trial artifacts (drawn on a background lane); ``also`` are told after them. Returns the number of
    trials this worker ran. A worker that got the study folder shipped (a Ray job's working directory,
    ``TUNEFORGE_STUDY_DIR``) finds custom builders there.
    """
    import optuna

    from search.engines import make_engine
    from search.storage import get_storage, stored_study

    _configure_threads()
    from search._quiet import quiet_libraries

    quiet_libraries()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = stored_study(optuna.load_study(study_name=plan.study_name, storage=get_storage(plan.storage_url)))
    if os.environ.get("TUNEFORGE_STUDY_DIR"):
        study = replace(study, root=os.environ["TUNEFORGE_STUDY_DIR"])
    if dataset is None:
        from search.data import dataset_for

        dataset = dataset_for(study)
    engine = make_engine(study, plan, worker=worker_id, index=index)
    if observers is None:
        from tracking.mlflow_log import client_for
        from tracking.observer import MlflowObserver

        observers = [MlflowObserver(client_for(plan.tracking_uri), plan.experiment_id, plan.parent_run_id,
                                    dataset=dataset, defer=True)]
    observers = [*observers, *also]
    done = 0
    with _existing_objects_frozen():  # each trial's clear_session() walks only what the trials made
        try:
            while True:
                raise_if_stopping()  # a stop that a library swallowed must not take a trial to abandon
                if (ticket := engine.ask()) is None:
                    break
                raise_if_stopping()  # ...nor train one it took meanwhile (failed below, queued for retry)
                run_trial(engine, ticket, study=study, dataset=dataset, train_seed=plan.train_seed, worker=worker_id,
                          observers=observers)
                done += 1
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt):  # between ask and training: the trial it was handed
                engine.fail_current("interrupted")
            for observer in observers:
                try:
                    observer.close()
                except Exception:  # noqa: BLE001, S110 - already in the worker log; the first error wins
                    pass
            raise
        for observer in observers:  # the last trial's artifacts and the end of its MLflow run
            observer.close()
    return done


def preload() -> None:
    """Import what every trial needs (TensorFlow first: most of a worker's start-up) before the plan comes."""
    _configure_threads()
    from search._quiet import quiet_libraries

    quiet_libraries()
    import mlflow.tracking  # noqa: F401
    import optuna  # noqa: F401

    import search.training  # noqa: F401
    import tracking.observer  # noqa: F401
    import tracking.trial_artifacts  # noqa: F401

    # Keras's clear_session() before every model runs a full gc.collect(), which walks every object the
    # imports made (about half a million: 0.3-0.5 s per trial here); frozen, they are skipped (about 0.01 s).
    gc.collect()
    gc.freeze()


def read_plan(stream: TextIO) -> RunPlan | None:
    """The plan the supervisor sends on stdin (its extra environment applied), or None at end of input."""
    line = stream.readline()
    if not line.strip():
        return None
    plan, env = RunPlan.from_message(line)
    os.environ.update(env)  # before the engine reads it (Keras Tuner's oracle address)
    return plan


def main(argv: list[str] | None = None) -> None:
    """Entry point of a worker process."""
    from search._lifetime import die_with_parent

    args = sys.argv[1:] if argv is None else argv
    worker, index = args[0], int(args[1])
    die_with_parent()  # SIGTERM, or the run's death (even kill -9), stops it like Ctrl-C
    try:
        preload()  # while the supervisor is still preparing the study
        plan = read_plan(sys.stdin)
        if plan is None:
            return  # the run stopped before it started
        work(plan, worker, index)
    except TuneforgeError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:  # a bug: show it in the log, tell the supervisor not to restart
        traceback.print_exc()
        print(f"error: worker crashed: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        sys.exit(EXIT_CRASH)
