"""Workers: slot planning (devices, threads), the worker loop (:func:`work`) and the ``tuneforge worker`` daemon.

Which processes run the workers of a ``tuneforge run`` is :mod:`search.executors`.
"""

from search.workers._devices import DeviceError, Gpu, detect_gpus, parse_gpu_select, plan_cpu_slots, plan_slots
from search.workers._plan import RunPlan
from search.workers._slots import Slot, cpu_count
from search.workers._worker import run_trial, work

__all__ = ["DeviceError", "Gpu", "RunPlan", "Slot", "cpu_count", "detect_gpus", "parse_gpu_select", "plan_cpu_slots",
           "plan_slots", "run_trial", "work"]
