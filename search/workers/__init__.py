"""Worker processes: slot planning, the worker loop and the supervisor that keeps them alive."""

from search.workers._devices import DeviceError, Gpu, detect_gpus, parse_gpu_select, plan_slots
from search.workers._slots import Slot, cpu_count, plan_cpu_slots

__all__ = ["DeviceError", "Gpu", "Slot", "Supervisor", "SupervisorReport", "WorkerError", "cpu_count", "detect_gpus",
           "parse_gpu_select", "plan_cpu_slots", "plan_slots"]


def __getattr__(name: str) -> object:
    """Load the supervisor on first use: it imports the engines (and TensorFlow), the device plan does not."""
    if name in ("Supervisor", "SupervisorReport", "WorkerError"):
        from search.workers import _supervisor

        return getattr(_supervisor, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
