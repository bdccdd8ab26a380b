"""Executors: where a run's workers run. :class:`LocalProcesses` (this machine) is the default;
:class:`~search.executors._ray.RayActors` runs them as actors on a Ray cluster (``--ray``);
:class:`~search.executors._inline.InProcess` runs one in the calling process (a notebook).

A new executor is one module with an :class:`Executor` subclass and one line in
``EXECUTORS`` below; the driver chooses it with :func:`make_executor` and never
branches on its kind.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from search.executors._base import Executor, ExecutorReport
from spaces.core import SpecError

# kind -> "module:class"; loaded on use (an executor may import heavy or optional packages)
EXECUTORS = {
    "local": "search.executors._local:LocalProcesses",
    "ray": "search.executors._ray:RayActors",  # tuneforge run --ray ADDRESS (Ray imported only then)
    "inline": "search.executors._inline:InProcess",  # search.run(..., executor="inline"): in the caller's process
}


def make_executor(slots: list[Any], log_dir: Path, *, kind: str = "local", **options: Any) -> Executor:
    """The executor of one run: ``kind`` from :data:`EXECUTORS`, built with the run's slots, its log folder
    and the executor's own ``options``."""
    if kind not in EXECUTORS:
        raise SpecError(f"unknown executor {kind!r}: tuneforge has {', '.join(sorted(EXECUTORS))}",
                        path=("executor",), hint="use one of those")
    module, _, name = EXECUTORS[kind].partition(":")
    return getattr(importlib.import_module(module), name)(slots, log_dir, **options)


__all__ = ["EXECUTORS", "Executor", "ExecutorReport", "make_executor"]
