"""The device plan: which GPU (or CPU share) each worker process gets, and the environment it starts with.

``plan_slots`` is a pure function of the visible GPUs, the request (``--gpus``,
``--trials-per-gpu``, ``--workers``) and the cores, so every case is testable on a
machine without GPUs. ``detect_gpus`` asks ``nvidia-smi`` and returns ``[]`` when it
is absent, fails or hangs.

The rules (README "Devices"):

* **CPU plan** (no GPU selected: none visible with ``auto``, or ``none``): ``workers``
  slots (1 when not given), the cores split evenly, ``CUDA_VISIBLE_DEVICES=-1``.
* **GPU plan**: each selected GPU gets ``trials_per_gpu`` (K) slots. ``workers=None``
  means one process per slot (GPUs x K); an explicit number of workers is dealt
  round-robin over the slots, GPU by GPU (N=2 on two GPUs uses both), wrapping
  around when N exceeds GPUs x K.
* **Memory**: a process on a GPU shared by ``n = max(K, processes on that GPU)``
  gets ``(memory - headroom) // n - CONTEXT_MB`` MB, where headroom is 10 % of the
  card (at least 256 MB) for the driver and other programs and CONTEXT_MB is what
  each process's CUDA context and cuDNN/cuBLAS handles take outside TensorFlow's
  allocator. Below ``MIN_MEMORY_MB`` the plan is refused: too many trials per GPU.
* **Threads**: the cores split across *all* slots, never below 1 (more slots than
  cores is allowed: the processes then share cores, which is fine when the GPU
  does the work).
* Every slot's environment names it: ``TUNEFORGE_SLOT`` and ``TUNEFORGE_DEVICE``
  (``gpu:1`` or ``cpu``), which workers record as MLflow tags.

GPU indices are nvidia-smi's (PCI bus order); slots set ``CUDA_DEVICE_ORDER=PCI_BUS_ID``
so CUDA numbers the cards the same way.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from search.workers._slots import Slot
from spaces import TuneforgeError

GpuSelect = Literal["auto", "none"] | list[int]

HEADROOM_FRACTION = 0.10  # of each card, left to the driver, the display and other programs
MIN_HEADROOM_MB = 256
CONTEXT_MB = 300  # per process: CUDA context + cuDNN/cuBLAS workspaces, outside TF's memory limit
MIN_MEMORY_MB = 256  # a smaller per-process limit is a mistake, not a plan
NVIDIA_SMI_TIMEOUT = 10.0
SELECT_FIELD = "--gpus / resources.gpus"


class DeviceError(TuneforgeError):
    """The device request cannot be planned on this machine (bad GPU index, too many trials per GPU)."""


@dataclass(frozen=True)
class Gpu:
    """One visible GPU: nvidia-smi's index, its name and total memory in MB."""

    index: int
    name: str
    memory_mb: int


def parse_nvidia_smi(text: str) -> list[Gpu]:
    """GPUs from ``nvidia-smi --query-gpu=index,name,memory.total --format=csv,noheader,nounits``.

    Lines that do not parse (a driver message, ``[N/A]`` memory) are skipped.
    """
    gpus = []
    for line in text.splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) < 3:
            continue
        try:
            index, memory = int(parts[0]), int(float(parts[-1]))
        except ValueError:
            continue
        gpus.append(Gpu(index=index, name=",".join(parts[1:-1]), memory_mb=memory))
    return sorted(gpus, key=lambda g: g.index)


def _visible_to_us(gpus: list[Gpu], env: Mapping[str, str]) -> list[Gpu]:
    """Honour ``CUDA_VISIBLE_DEVICES`` in our own environment when it lists indices (or hides all)."""
    value = env.get("CUDA_VISIBLE_DEVICES")
    if value is None:
        return gpus
    items = [v.strip() for v in value.split(",") if v.strip()]
    if not items or items[0].startswith("-"):
        return []  # "" or "-1": CUDA sees no device, neither do we
    if not all(v.isdigit() for v in items):
        return gpus  # UUIDs / MIG names: leave the choice to --gpus
    wanted = {int(v) for v in items}
    return [g for g in gpus if g.index in wanted]


def detect_gpus(*, env: Mapping[str, str] | None = None, timeout: float = NVIDIA_SMI_TIMEOUT) -> list[Gpu]:
    """The GPUs nvidia-smi reports, limited by ``CUDA_VISIBLE_DEVICES`` when it lists indices.

    Returns ``[]`` when nvidia-smi is not installed, fails, times out or prints nothing useful.
    """
    env = os.environ if env is None else env
    try:
        proc = subprocess.run(
            ["nvidia-smi", "--query-gpu=index,name,memory.total", "--format=csv,noheader,nounits"],
            capture_output=True, text=True, timeout=timeout, env=dict(env),
        )
    except (OSError, subprocess.SubprocessError):
        return []
    if proc.returncode != 0:
        return []
    return _visible_to_us(parse_nvidia_smi(proc.stdout), env)


def parse_gpu_select(text: str, *, field: str = "--gpus") -> GpuSelect:
    """``"auto"``, ``"none"`` or a comma-separated index list (``"0,2"``) -> the ``select`` of plan_slots."""
    value = text.strip().lower()
    if value in ("auto", "none"):
        return value  # type: ignore[return-value]
    items = [v.strip() for v in value.split(",")]
    if not value or not all(v.isdigit() for v in items):
        raise DeviceError(f"{field} takes auto, none or GPU indices like 0,2, but got {text!r}",
                          hint="list the GPUs with nvidia-smi -L")
    return [int(v) for v in items]


def _selected(gpus: Sequence[Gpu], select: str | list[int]) -> list[Gpu]:
    if isinstance(select, str):
        if select == "auto":
            return list(gpus)
        if select == "none":
            return []
        raise DeviceError(f"{SELECT_FIELD} must be auto, none or a list of GPU indices, but got {select!r}",
                          hint="write gpus: auto (every GPU), none (CPU only) or [0, 2]")
    visible = {g.index: g for g in gpus}
    shown = ", ".join(str(i) for i in sorted(visible)) or "none (nvidia-smi found no GPU)"
    for index in select:
        if index not in visible:
            raise DeviceError(
                f"GPU {index} is not visible on this machine ({SELECT_FIELD}); visible GPUs: {shown}",
                hint="pick indices that nvidia-smi -L lists, or use auto (every GPU) or none (CPU only)",
            )
    if len(set(select)) != len(select):
        raise DeviceError(f"{SELECT_FIELD} lists a GPU twice: {select}",
                          hint="list each GPU once; --trials-per-gpu / resources.trials_per_gpu shares a GPU")
    return [visible[i] for i in select]


def memory_limit_mb(gpu: Gpu, sharing: int) -> int:
    """TensorFlow's memory limit for one of ``sharing`` processes on ``gpu`` (see the module rules)."""
    headroom = max(MIN_HEADROOM_MB, int(gpu.memory_mb * HEADROOM_FRACTION))
    limit = (gpu.memory_mb - headroom) // sharing - CONTEXT_MB
    if limit < MIN_MEMORY_MB:
        raise DeviceError(
            f"GPU {gpu.index} ({gpu.name}, {gpu.memory_mb} MB) cannot hold {sharing} trials: each would get "
            f"{max(limit, 0)} MB, below the {MIN_MEMORY_MB} MB minimum",
            hint="lower --trials-per-gpu / resources.trials_per_gpu or --workers",
        )
    return limit


def _thread_env(threads: int) -> dict[str, str]:
    return {
        "TF_NUM_INTRAOP_THREADS": str(threads),
        "TF_NUM_INTEROP_THREADS": "1" if threads == 1 else "2",
        "OMP_NUM_THREADS": str(threads),
        "TF_CPP_MIN_LOG_LEVEL": "2",
    }


def _cpu_plan(workers: int, cores: int) -> list[Slot]:
    threads = max(1, cores // workers)
    return [
        Slot(index=i, device="cpu", threads=threads,
             env={"CUDA_VISIBLE_DEVICES": "-1", **_thread_env(threads),
                  "TUNEFORGE_SLOT": str(i), "TUNEFORGE_DEVICE": "cpu"})
        for i in range(workers)
    ]


def plan_slots(*, gpus: list[Gpu], select: str | list[int] = "auto", trials_per_gpu: int = 1,
               cores: int, workers: int | None = None) -> list[Slot]:
    """The worker slots for this machine: GPU slots (GPUs x K, or ``workers`` round-robin) or CPU shares.

    Raises DeviceError when ``select`` names a GPU that is not visible, lists one twice,
    or the per-process memory limit would fall below MIN_MEMORY_MB.
    """
    if trials_per_gpu < 1 or cores < 1 or (workers is not None and workers < 1):
        raise DeviceError(f"trials_per_gpu, cores and workers must be >= 1, but got "
                          f"trials_per_gpu={trials_per_gpu}, cores={cores}, workers={workers}")
    chosen = _selected(gpus, select)
    if not chosen:
        return _cpu_plan(workers or 1, cores)
    # round-robin order: slot k of every GPU before slot k+1 of any, so few workers still use every GPU
    places = [gpu for _ in range(trials_per_gpu) for gpu in chosen]
    count = len(places) if workers is None else workers
    assigned = [places[i % len(places)] for i in range(count)]
    per_gpu = {g.index: sum(1 for a in assigned if a.index == g.index) for g in chosen}
    threads = max(1, cores // count)
    slots = []
    for i, gpu in enumerate(assigned):
        limit = memory_limit_mb(gpu, max(trials_per_gpu, per_gpu[gpu.index]))
        device = f"gpu:{gpu.index}"
        env = {
            "CUDA_DEVICE_ORDER": "PCI_BUS_ID",
            "CUDA_VISIBLE_DEVICES": str(gpu.index),
            "TF_GPU_ALLOCATOR": "cuda_malloc_async",
            "TUNEFORGE_GPU_MEMORY_MB": str(limit),
            **_thread_env(threads),
            "TUNEFORGE_SLOT": str(i),
            "TUNEFORGE_DEVICE": device,
        }
        slots.append(Slot(index=i, device=device, threads=threads, env=env, gpu=gpu.index, memory_limit_mb=limit))
    return slots


def plan_cpu_slots(workers: int, cores: int) -> list[Slot]:
    """``workers`` CPU slots sharing ``cores``: each gets ``max(1, cores // workers)`` threads, so N workers
    do not oversubscribe the CPU."""
    if workers < 1:
        return []
    return plan_slots(gpus=[], select="none", cores=max(1, cores), workers=workers)
