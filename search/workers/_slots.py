"""Plan worker slots: which environment each worker process starts with.

A pure function of the machine (cores, GPUs) and the request, so it is testable
anywhere. On a CPU-only machine the cores are split evenly between workers so N
workers do not oversubscribe the CPU.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Slot:
    """One worker's place: its index, device label and environment variables."""

    index: int
    device: str
    threads: int
    env: dict[str, str] = field(default_factory=dict)


def cpu_count() -> int:
    """Cores this process may use (affinity-aware)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def plan_cpu_slots(workers: int, cores: int) -> list[Slot]:
    """``workers`` CPU slots sharing ``cores``: each gets ``max(1, cores // workers)`` threads."""
    threads = max(1, cores // max(1, workers))
    slots = []
    for i in range(workers):
        env = {
            "CUDA_VISIBLE_DEVICES": "-1",
            "TF_NUM_INTRAOP_THREADS": str(threads),
            "TF_NUM_INTEROP_THREADS": "1" if threads == 1 else "2",
            "OMP_NUM_THREADS": str(threads),
            "TF_CPP_MIN_LOG_LEVEL": "2",
        }
        slots.append(Slot(index=i, device="cpu", threads=threads, env=env))
    return slots
