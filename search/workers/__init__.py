"""Worker processes: slot planning, the worker loop and the supervisor that keeps them alive."""

from search.workers._slots import Slot, cpu_count, plan_cpu_slots
from search.workers._supervisor import Supervisor, SupervisorReport, WorkerError

__all__ = ["Slot", "Supervisor", "SupervisorReport", "WorkerError", "cpu_count", "plan_cpu_slots"]
