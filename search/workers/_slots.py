"""Worker slots: which environment each worker process starts with.

The planning itself (GPUs, trials per GPU, cores) is search.workers._devices.plan_slots
(``plan_cpu_slots`` is its CPU-only case).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Slot:
    """One worker's place: its index, device label (``cpu`` / ``gpu:1``), threads and environment.

    ``gpu`` is the GPU's nvidia-smi index and ``memory_limit_mb`` TensorFlow's memory limit
    in the process (both None on CPU).
    """

    index: int
    device: str
    threads: int
    env: dict[str, str] = field(default_factory=dict)
    gpu: int | None = None
    memory_limit_mb: int | None = None


def cpu_count() -> int:
    """Cores this process may use (affinity-aware)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1
