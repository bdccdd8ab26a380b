"""Budgets: how much search each strategy gets (``fits:N``, ``epochs:N`` or ``time:T``).

The default is the full grid's cost in model fits (grid points x folds), so every
strategy trains as many models as GridSearchCV does. The grid itself always runs
whole: it is the reference every other strategy is measured against.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from search.spec import parse_duration
from spaces import SpecError

UNITS = ("fits", "epochs", "time")
_FORM = re.compile(r"^\s*(fits|epochs|time)\s*:\s*(\S+)\s*$")


@dataclass(frozen=True)
class Budget:
    """``unit`` is fits, epochs or time (seconds); ``amount`` how many."""

    unit: str
    amount: float

    def __str__(self) -> str:
        if self.unit == "time":
            return f"time:{self.amount:g}s"
        return f"{self.unit}:{int(self.amount)}"

    def left(self, *, fits: int, epochs: int, seconds: float) -> float:
        """What is left after spending ``fits``/``epochs``/``seconds``."""
        spent = {"fits": fits, "epochs": epochs, "time": seconds}[self.unit]
        return self.amount - spent

    def affords(self, *, fits: int, epochs: int, seconds: float, cost_fits: int, cost_epochs: int) -> bool:
        """Whether one more config (``cost_fits`` fits, ``cost_epochs`` epochs) fits in the budget.

        A wall-clock budget starts a config while time is left; it may finish after.
        """
        if self.unit == "fits":
            return fits + cost_fits <= self.amount
        if self.unit == "epochs":
            return epochs + cost_epochs <= self.amount
        return seconds < self.amount


def parse_budget(text: str | None, *, grid_fits: int) -> Budget:
    """``fits:N``, ``epochs:N``, ``time:T`` (T like 90, 90s, 20m, 1h30m); None gives ``fits:<grid_fits>``."""
    if text is None:
        return Budget("fits", float(grid_fits))
    match = _FORM.match(text)
    fix = "write fits:N, epochs:N or time:T, e.g. --budget fits:36, --budget epochs:500, --budget time:10m"
    if not match:
        raise SpecError(f"must be UNIT:AMOUNT with UNIT one of {', '.join(UNITS)}, but got {text!r}",
                        path=("--budget",), hint=fix)
    unit, amount = match.groups()
    if unit == "time":
        try:
            seconds = parse_duration(amount)
        except ValueError as exc:
            raise SpecError(f"time {exc}", path=("--budget",), hint=fix) from None
        return Budget("time", float(seconds))  # type: ignore[arg-type]
    if not amount.isdigit() or int(amount) < 1:
        raise SpecError(f"{unit} must be a whole number >= 1, but got {amount!r}", path=("--budget",), hint=fix)
    return Budget(unit, float(int(amount)))
