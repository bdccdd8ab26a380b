"""The worker slots of one ``tuneforge run``: the study's ``resources`` and the command-line overrides."""

from __future__ import annotations

from search.spec import Study
from search.workers import Slot, cpu_count, detect_gpus, plan_slots


def run_slots(study: Study, *, gpus: str | list[int] | None = None, trials_per_gpu: int | None = None,
              workers: int | None = None) -> list[Slot]:
    """Plan this machine's slots for ``study``; each argument, when given, overrides the study file.

    ``workers`` left unset (on the command line and in the file) means one process per
    GPU x trials_per_gpu, or one on a machine without GPUs (search.workers._devices rules).
    """
    resources = study.spec.resources
    select = gpus if gpus is not None else resources.gpus
    per_gpu = trials_per_gpu if trials_per_gpu is not None else resources.trials_per_gpu
    if workers is None and "workers" in study.spec.search.model_fields_set:
        workers = study.spec.search.workers
    found = [] if select == "none" else detect_gpus()
    return plan_slots(gpus=found, select=select, trials_per_gpu=per_gpu, cores=cpu_count(), workers=workers)
