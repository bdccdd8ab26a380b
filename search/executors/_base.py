"""The executor seam: what starts, watches and stops the workers of one run (issue 17).

A minimal copy of the interface agreed with the seam branch: the Ray executor is written
against it. The local process executor (``search.workers.Supervisor``) has the same methods.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from search.driver._plan import RunPlan


@dataclass
class ExecutorReport:
    """What happened to the workers during one run."""

    lost: list[Any] = field(default_factory=list)
    deaths: list[str] = field(default_factory=list)
    restarts: int = 0


class Executor(ABC):
    """Starts, watches and stops the workers of one run: where trials run, never what they are."""

    def boot(self) -> None:
        """Start workers before the plan exists (may be a no-op)."""

    def abort(self) -> None:
        """Stop booted workers that never got a plan."""

    @abstractmethod
    def run(self, plan: RunPlan, *, tick: Callable[[], None] | None = None,
            on_lost: Callable[[list[Any], str], None] | None = None,
            worker_env: Callable[[int], dict[str, str]] | None = None, retry_lost: bool = True,
            on_gone: Callable[[int, str], None] | None = None) -> ExecutorReport:
        """Run the workers on ``plan`` until the budget is spent."""

    @abstractmethod
    def stop(self, reason: str) -> None:
        """Stop every worker and recover the trials they were running."""
