"""One worker process: join the study, then ask, train, report and finish until the budget is spent.

Run as ``python -m search.workers WORKER_ID INDEX``; it imports TensorFlow first, then
reads ``{"plan": RunPlan, "env": {...}}`` as one JSON line on stdin (the supervisor
sends it once the study is prepared; end of input without it: exit 0, nothing to do).
Exit status 0 when the budget is spent, 2 when the study itself is broken (the error is printed on one
line), 3 on an unexpected exception (a bug: the traceback is in the log), 130 when
interrupted (the running trial is failed and queued for retry).
"""

from __future__ import annotations

import functools
import gc
import json
import os
import signal
import sys
import traceback
from dataclasses import replace
from typing import Any, TextIO

from search.driver._plan import RunPlan
from spaces import TuneforgeError

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


def sampler_seed(seed: int | None, index: int, existing_trials: int) -> int | None:
    """The seed of worker ``index``'s sampler: the study seed for a fresh study's first worker.

    Other workers, and every worker of a resumed study, get a seed derived from
    (seed, existing trials, index), so a resumed study does not replay its first configs.
    """
    if seed is None:
        return None
    if index == 0 and existing_trials == 0:
        return seed
    import numpy as np

    return int(np.random.SeedSequence([seed, existing_trials, index]).generate_state(1)[0])


def run_trial(engine: Any, ticket: Any, *, study: Any, dataset: Any, plan: RunPlan, client: Any,
              worker: str, defer_artifacts: bool = False) -> None:
    """Train one ticket and record it in the engine and in MLflow.

    ``defer_artifacts``: draw and upload the trial's plots and end its MLflow run on this
    process's background lane (``search.workers._background``), overlapping the next trial;
    the caller must ``drain()`` it before anything reads those runs (and before exiting).
    """
    from search.states import TrialState
    from search.training import train_config
    from search.workers._background import background
    from search.workers._background import drain as drain_background
    from tracking.mlflow_log import TrialRun

    tags = dict(ticket.tags)
    tags.update({tag: os.environ[var] for tag, var in (("slot", "TUNEFORGE_SLOT"), ("device", "TUNEFORGE_DEVICE"))
                 if var in os.environ})  # where the trial ran (search.workers._devices)
    if ticket.retry_of is not None:
        tags["retry_of"] = str(ticket.retry_of)
    run = TrialRun(client, plan.experiment_id, plan.parent_run_id, study_name=study.name,
                   trial_number=ticket.number, worker=worker, config=ticket.config, tags=tags)
    engine.set_attrs(ticket, {"mlflow_run_id": run.run_id, "config": json.dumps(ticket.config)})
    try:
        if ticket.duplicate_of is not None:
            original = next(t for t in engine.trials() if t.number == ticket.duplicate_of)
            engine.finish(ticket, TrialState.COMPLETE, original.value, {"duplicate_of": ticket.duplicate_of})
            run.finish(TrialState.COMPLETE, objective=original.value, metric=study.metric,
                       tags={"duplicate_of": str(ticket.duplicate_of)})
            return

        def report(epoch: int, logs: dict[str, float]) -> None:
            run.log_epoch(epoch, logs)
            engine.report(ticket, epoch, logs)

        result = train_config(ticket.config, dataset, model_kind=study.spec.model, metric=study.metric,
                              direction=study.direction, report=report, seed=plan.train_seed,
                              search_path=study.base_dir, keep_model=True)
    except KeyboardInterrupt:
        engine.finish_lost(ticket, "interrupted")
        run.finish(TrialState.FAIL, objective=None, metric=study.metric, error="interrupted (Ctrl-C or SIGTERM)")
        try:
            drain_background()  # the previous trial's artifacts and run end, before the worker exits
        except Exception:  # noqa: BLE001, S110 - already printed to the worker log; the interrupt wins
            pass
        raise
    attrs = {"epochs": result.epochs_trained, "n_params": result.n_params, "seconds": round(result.seconds, 3)}
    if result.error:
        attrs["error"] = result.error
    extra = {"n_params": result.n_params, "epochs_trained": result.epochs_trained}
    from tracking.trial_artifacts import collect_trial_artifacts

    artifacts, artifacts_error = None, None
    try:  # what needs the Keras model, here; plots and upload in the background below
        artifacts = collect_trial_artifacts(result=result, dataset=dataset, metric=study.metric,
                                            config=ticket.config, title=f"{study.name} trial {ticket.number}")
    except Exception as exc:  # noqa: BLE001 - a plot must never cost the trial its result
        artifacts_error = f"{type(exc).__name__}: {exc}"[:500]
    result.model = None  # free the model before the next trial
    engine.finish(ticket, result.state, result.objective, attrs)

    def log_and_end_run() -> None:  # artifacts first: the run ends only once they are logged
        error = artifacts_error
        if artifacts is not None:
            try:
                artifacts.log(run.client, run.run_id)
            except Exception as exc:  # noqa: BLE001 - a plot must never cost the trial its result
                error = f"{type(exc).__name__}: {exc}"[:500]
        if error:
            run.client.set_tag(run.run_id, "artifacts_error", error)
        run.finish(result.state, objective=result.objective, metric=study.metric, extra=extra, error=result.error,
                   tags={"pruned_at_epoch": str(result.epochs_trained - 1)}
                   if result.state is TrialState.PRUNED else {})

    if defer_artifacts:
        background().submit(log_and_end_run)
    else:
        log_and_end_run()


def work(plan: RunPlan, worker: str, index: int, *, dataset: Any = None) -> int:
    """The worker loop; returns the number of trials this worker ran.

    ``dataset`` given (a Ray actor's copy from the object store): no data file is read. A worker that
    got the study folder shipped (``TUNEFORGE_STUDY_DIR``) finds custom builders there.
    """
    import optuna

    from search.engines.optuna import OptunaEngine, open_storage
    from search.driver._data import dataset_for
    from search.driver._prepare import stored_study
    from tracking.mlflow_log import client_for

    _configure_threads()
    from search._quiet import quiet_libraries

    quiet_libraries()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    optuna_study = optuna.load_study(study_name=plan.study_name, storage=open_storage(plan.storage_url))
    study = stored_study(optuna_study)
    if os.environ.get("TUNEFORGE_STUDY_DIR"):
        study = replace(study, root=os.environ["TUNEFORGE_STUDY_DIR"])
    dataset = dataset_for(study) if dataset is None else dataset
    if study.spec.search.engine == "keras_tuner":
        from search.engines.keras_tuner import KerasTunerEngine

        engine: Any = KerasTunerEngine(study, plan.storage_url, deadline=plan.deadline, worker=worker,
                                       tuner_id=os.environ["KERASTUNER_TUNER_ID"])
    else:
        seed = sampler_seed(plan.sampler_seed, index, len(optuna_study.get_trials(deepcopy=False)))
        engine = OptunaEngine(study, plan.storage_url, budget=plan.budget, deadline=plan.deadline, seed=seed,
                              parallel=plan.workers > 1, worker=worker)
    client = client_for(plan.tracking_uri)
    done = 0
    while (ticket := engine.ask()) is not None:
        run_trial(engine, ticket, study=study, dataset=dataset, plan=plan, client=client, worker=worker,
                  defer_artifacts=True)
        done += 1
    from search.workers._background import drain

    drain()  # the last trial's artifacts and the end of its MLflow run (run_trial queues them)
    return done


def preload() -> None:
    """Import what every trial needs (TensorFlow first: most of a worker's start-up) before the plan comes."""
    _configure_threads()
    from search._quiet import quiet_libraries

    quiet_libraries()
    import mlflow.tracking  # noqa: F401
    import optuna  # noqa: F401

    import search.training  # noqa: F401
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
    args = sys.argv[1:] if argv is None else argv
    worker, index = args[0], int(args[1])
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
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
