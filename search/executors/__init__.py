"""Executors: where a run's workers live (local processes by default, Ray actors with ``--ray``).

Importing this package never imports Ray: the Ray executor imports it when it connects.
"""

from search.executors._base import Executor, ExecutorReport
from search.executors._ray import RayActors, RayError, print_addresses, ray_executor
from search.executors._ray_plan import ActorSpec, actor_gpu_env, plan_actors
from search.executors._ray_reach import ReachError

__all__ = ["ActorSpec", "Executor", "ExecutorReport", "RayActors", "RayError", "ReachError", "actor_gpu_env",
           "plan_actors", "print_addresses", "ray_executor"]
