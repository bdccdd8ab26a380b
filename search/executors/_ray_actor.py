"""What runs inside the Ray cluster: the worker actor and the study lock actor.

Both classes are plain Python; ``search.executors._ray`` wraps them with ``ray.remote``
when a run starts, so importing this module never imports Ray.
"""

from __future__ import annotations

import os
import socket
import time
from typing import Any

LOCK_LEASE_SECONDS = 60.0  # a holder that died with its node frees the lock after this long


class TrialWorker:
    """One tuneforge worker as a Ray actor: it applies its environment and GPU memory cap, imports
    TensorFlow once, then runs the worker loop on the data the driver put in the object store."""

    def __init__(self, env: dict[str, str]) -> None:
        os.environ.update(env)
        if os.environ.get("TUNEFORGE_DEVICE") == "gpu":  # Ray chose the GPU: cap TensorFlow at our 1/K share
            from search.executors._ray_plan import actor_gpu_env
            from search.workers._devices import detect_gpus

            os.environ.update(actor_gpu_env(detect_gpus(), int(os.environ.get("TUNEFORGE_TRIALS_PER_GPU", "1"))))
        if os.environ.get("TUNEFORGE_SHIPPED_DIR"):  # the job's runtime_env working_dir: the study folder's copy
            os.environ["TUNEFORGE_STUDY_DIR"] = os.getcwd()
        from search.workers._worker import preload

        preload()

    def where(self) -> dict[str, Any]:
        """Where this actor runs (answered once its constructor is done: it is placed and ready)."""
        import ray

        return {"node": ray.get_runtime_context().get_node_id(), "host": socket.gethostname(), "pid": os.getpid(),
                "device": os.environ.get("TUNEFORGE_DEVICE", "cpu"),
                "gpu_memory_mb": os.environ.get("TUNEFORGE_GPU_MEMORY_MB")}

    def work(self, plan: Any, env: dict[str, str], worker_id: str, index: int, dataset: Any) -> int:
        """Run the worker loop on ``plan`` (a RunPlan) until the budget is spent; returns the trials run here."""
        from search.workers._worker import work

        os.environ.update(env)  # the study lock's name, Keras Tuner's oracle address and tuner id
        return work(plan, worker_id, index, dataset=dataset)


class StudyLockKeeper:
    """The study's "count the trials, then start one" lock for workers on many nodes (a lease).

    Workers take it through ``search.engines._lock.StudyLock`` when ``TUNEFORGE_RAY_LOCK`` names it.
    """

    def __init__(self) -> None:
        self.holder: str | None = None
        self.expires = 0.0

    def acquire(self, holder: str) -> bool:
        now = time.monotonic()
        if self.holder is None or now >= self.expires or self.holder == holder:
            self.holder, self.expires = holder, now + LOCK_LEASE_SECONDS
            return True
        return False

    def release(self, holder: str) -> None:
        if self.holder == holder:
            self.holder = None
