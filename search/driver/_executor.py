"""Which executor runs a study's workers, built from the run's options: the one place that chooses."""

from __future__ import annotations

from typing import Any

from search.driver._capacity import trials_left
from search.driver._devices import run_slots
from search.executors import Executor, make_executor
from search.spec import Study
from spaces.core import SpecError, Url, workdir


def executor_for(study: Study, options: Any, *, storage_url: Url, tracking_uri: Url) -> Executor:
    """Local worker processes, or Ray actors when ``--ray`` / ``resources.ray`` names a cluster.

    Never more workers than trials left: a worker with nothing to run would only boot and exit.
    """
    left = max(1, trials_left(study, storage_url, options.trials))
    log_dir = workdir() / "logs" / study.name
    chosen = options.executor != "local"  # an executor named explicitly (inline) is not overridden by the study
    if options.ray and chosen:
        raise SpecError(f"ray and executor={options.executor!r} both say where the workers run",
                        path=("executor",), hint="leave one of them out")
    address = options.ray or (None if chosen else study.spec.resources.ray)
    if address:  # Ray places the actors by the cluster's resources: no local slots
        from search.executors._ray import ray_options

        workers = min(options.workers, left) if options.workers else None
        extra = ray_options(study, address, workers=workers, gpus=options.gpus, trials_per_gpu=options.trials_per_gpu,
                            tracking_uri=tracking_uri)
        return make_executor([], log_dir, kind="ray", **extra, **options.executor_options)
    if options.executor == "inline":  # one worker in this process: no slot plan applies, so none is made
        if options.gpus is not None or options.trials_per_gpu is not None:
            raise SpecError("gpus and trials_per_gpu place worker processes; executor='inline' starts none",
                            path=("gpus" if options.gpus is not None else "trials_per_gpu",),
                            hint="leave them out, or use the local executor")
        return make_executor([], log_dir, kind="inline", **options.executor_options)
    slots = run_slots(study, gpus=options.gpus, trials_per_gpu=options.trials_per_gpu, workers=options.workers)
    return make_executor(slots[:left], log_dir, kind=options.executor, **options.executor_options)
