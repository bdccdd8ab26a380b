"""The device plan of a run on Ray: pure functions, so every GPU case is testable on a CPU machine.

On one machine tuneforge picks each worker's GPU itself (``search.workers._devices``).
On Ray, Ray picks: an actor asks for ``num_gpus = 1/K`` (K = ``--trials-per-gpu``) and
Ray sets its ``CUDA_VISIBLE_DEVICES`` to the GPU it chose. Ray's request limits nothing
physically (TensorFlow would still take the whole card), so each actor then applies
tuneforge's memory cap for its share, computed by :func:`actor_gpu_env` from the GPU it
was given: about ``memory / K`` (the same ``memory_limit_mb`` rule as the local plan).

* GPU cluster: ``workers`` actors (default: GPUs x K), each ``num_gpus = 1/K``.
* CPU cluster (no GPU, or ``--gpus none``): ``workers`` actors (default 1), ``num_gpus = 0``,
  ``CUDA_VISIBLE_DEVICES=-1``.
* Every actor asks for ``cpus_per_actor`` CPUs and runs TensorFlow with that many threads.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from search.workers._devices import DeviceError, Gpu, _thread_env, memory_limit_mb


@dataclass(frozen=True)
class ActorSpec:
    """One worker actor: its index, Ray resource request and the environment it starts with."""

    index: int
    num_cpus: float
    num_gpus: float
    env: dict[str, str] = field(default_factory=dict)


def plan_actors(*, cluster_gpus: int, trials_per_gpu: int = 1, workers: int | None = None,
                cpus_per_actor: int = 1, use_gpus: bool = True) -> list[ActorSpec]:
    """The worker actors of a run on a cluster with ``cluster_gpus`` GPUs in all.

    Raises DeviceError when a count is below 1.
    """
    if trials_per_gpu < 1 or cpus_per_actor < 1 or cluster_gpus < 0 or (workers is not None and workers < 1):
        raise DeviceError(f"trials_per_gpu, cpus_per_actor and workers must be >= 1 and GPUs >= 0, but got "
                          f"trials_per_gpu={trials_per_gpu}, cpus_per_actor={cpus_per_actor}, "
                          f"workers={workers}, GPUs={cluster_gpus}")
    on_gpu = use_gpus and cluster_gpus > 0
    count = workers if workers is not None else (cluster_gpus * trials_per_gpu if on_gpu else 1)
    threads = _thread_env(cpus_per_actor)
    specs = []
    for i in range(count):
        env = {**threads, "TUNEFORGE_SLOT": str(i)}
        if on_gpu:
            env.update({"TUNEFORGE_DEVICE": "gpu", "TUNEFORGE_TRIALS_PER_GPU": str(trials_per_gpu)})
        else:
            env.update({"TUNEFORGE_DEVICE": "cpu", "CUDA_VISIBLE_DEVICES": "-1"})
        specs.append(ActorSpec(i, float(cpus_per_actor), 1.0 / trials_per_gpu if on_gpu else 0.0, env))
    return specs


def actor_gpu_env(visible: Sequence[Gpu], trials_per_gpu: int) -> dict[str, str]:
    """Inside a GPU actor: the memory cap for its 1/K share of the GPU Ray gave it (``visible[0]``).

    ``visible`` is what nvidia-smi shows under the actor's ``CUDA_VISIBLE_DEVICES``; empty
    (no driver) gives ``{}`` and the worker trains on the CPU with a note in its log.
    Raises DeviceError when the share would fall below the minimum (too many trials per GPU).
    """
    if not visible:
        return {}
    gpu = visible[0]
    return {"TUNEFORGE_GPU_MEMORY_MB": str(memory_limit_mb(gpu, trials_per_gpu)),
            "TUNEFORGE_DEVICE": f"gpu:{gpu.index}", "TF_GPU_ALLOCATOR": "cuda_malloc_async"}
