"""One small frozen class per hyperparameter kind, checked when built.

Domains are inclusive: ``Int("units", 16, 512)`` may yield 16 and 512, in every
backend. ``log`` spreads values evenly in log space and excludes ``step``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from spaces.core._errors import SpecError

Scalar = str | int | float | bool
Condition = tuple[tuple[str, tuple[Scalar, ...]], ...]


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_number(name: str, key: str, value: Any, *, integer: bool = False) -> None:
    kind = "a whole number" if integer else "a number"
    ok = _is_number(value) and (not integer or float(value).is_integer())
    if not ok or (isinstance(value, float) and not math.isfinite(value)):
        raise SpecError(
            f"must be {kind}, but got {value!r} ({type(value).__name__})",
            path=(name, key),
            hint="write it without quotes, e.g. 1e-4" if isinstance(value, str) else "",
        )


def _normalize_when(name: str, when: Mapping[str, Any] | None) -> Condition:
    if when is None or when == ():
        return ()
    if isinstance(when, tuple) and all(isinstance(i, tuple) and len(i) == 2 for i in when):
        when = dict(when)  # already normalized, e.g. by dataclasses.replace
    if not isinstance(when, Mapping) or not when:
        raise SpecError(
            f"must map a parameter to the value(s) it must have, but got {when!r}",
            path=(name, "when"),
            hint="e.g. when: {optimizer: sgd}",
        )
    items = []
    for parent, values in when.items():
        if not isinstance(parent, str):
            raise SpecError(f"parameter names must be strings, but got {parent!r}", path=(name, "when"))
        if parent == name:
            raise SpecError("a parameter cannot depend on itself", path=(name, "when", parent))
        vals = tuple(values) if isinstance(values, (list, tuple)) else (values,)
        if not vals:
            raise SpecError("needs at least one value", path=(name, "when", parent))
        for v in vals:
            if not isinstance(v, (str, int, float, bool)):
                raise SpecError(f"values must be plain scalars, but got {v!r}", path=(name, "when", parent))
        items.append((parent, vals))
    return tuple(sorted(items))


@dataclass(frozen=True)
class Param:
    """Base of every kind: a name, an optional ``per_layer`` count and ``when`` condition."""

    kind: ClassVar[str] = ""
    name: str
    per_layer: str | None = field(default=None, kw_only=True)
    when: Condition = field(default=(), kw_only=True)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.isidentifier():
            raise SpecError(
                f"parameter names must be identifiers (letters, digits, _), but got {self.name!r}",
                path=(str(self.name),),
            )
        if self.per_layer is not None and not isinstance(self.per_layer, str):
            raise SpecError(
                f"must name an int parameter, but got {self.per_layer!r}", path=(self.name, "per_layer")
            )
        object.__setattr__(self, "when", _normalize_when(self.name, self.when))  # type: ignore[arg-type]

    # --- domain -----------------------------------------------------------------
    def contains(self, value: Any) -> bool:
        """Whether ``value`` lies in this parameter's declared domain."""
        raise NotImplementedError

    def domain_values(self) -> tuple[Any, ...] | None:
        """Every value for finite kinds (categorical, bool, fixed); ``None`` for ranges."""
        return None

    def to_dict(self) -> dict[str, Any]:
        """The file form of this parameter (without its name, which is the key)."""
        out: dict[str, Any] = {"type": self.kind}
        out.update(self._fields_dict())
        if self.per_layer is not None:
            out["per_layer"] = self.per_layer
        if self.when:
            out["when"] = {k: (list(v) if len(v) > 1 else v[0]) for k, v in self.when}
        return out

    def _fields_dict(self) -> dict[str, Any]:
        raise NotImplementedError


@dataclass(frozen=True)
class _Range(Param):
    """Shared checks of Int and Float: inclusive bounds, log, step, grid and points."""

    low: float = 0
    high: float = 0
    log: bool = field(default=False, kw_only=True)
    step: float | None = field(default=None, kw_only=True)
    grid: tuple[float, ...] | None = field(default=None, kw_only=True)
    points: int | None = field(default=None, kw_only=True)

    _integer: ClassVar[bool] = False

    def __post_init__(self) -> None:
        super().__post_init__()
        name = self.name
        _check_number(name, "low", self.low, integer=self._integer)
        _check_number(name, "high", self.high, integer=self._integer)
        if not isinstance(self.log, bool):
            raise SpecError(f"must be true or false, but got {self.log!r}", path=(name, "log"))
        if self.low > self.high:
            raise SpecError(
                f"`low <= high` must hold, but got (low={self.low}, high={self.high})",
                path=(name, "low"),
                hint="swap the two bounds",
            )
        if self.log and self.low <= 0:
            raise SpecError(
                f"a log-scaled range needs low > 0, but got low={self.low}",
                path=(name, "low"),
                hint="raise low above zero or drop `log: true`",
            )
        self._check_step()
        if self.points is not None:
            if not (isinstance(self.points, int) and not isinstance(self.points, bool)) or self.points < 2:
                raise SpecError(
                    f"must be a whole number >= 2 (both endpoints are grid points), but got {self.points!r}",
                    path=(name, "points"),
                )
        if self.grid is not None:
            self._check_grid()

    def _check_step(self) -> None:
        name, step = self.name, self.step
        if step is None:
            return
        _check_number(name, "step", step, integer=self._integer)
        if step <= 0:
            raise SpecError(f"must be > 0, but got {step}", path=(name, "step"))
        if self.log and not (self._integer and step == 1):
            raise SpecError(
                "`step` and `log: true` cannot be combined", path=(name, "step"), hint="drop one of them"
            )
        span = (self.high - self.low) / step
        if abs(span - round(span)) > 1e-9:
            raise SpecError(
                f"`high - low` must be a multiple of step, but got (low={self.low}, high={self.high}, step={step})",
                path=(name, "step"),
            )

    def _check_grid(self) -> None:
        name = self.name
        if isinstance(self.grid, (str, bytes)) or not isinstance(self.grid, Sequence) or not self.grid:
            raise SpecError(f"must be a non-empty list of numbers, but got {self.grid!r}", path=(name, "grid"))
        values = tuple(self.grid)
        for i, value in enumerate(values):
            _check_number(name, "grid", value, integer=self._integer)
            if not self.contains(value):
                raise SpecError(
                    f"grid values must lie in [{self.low}, {self.high}] (and on the step), but got {value!r}",
                    path=(name, "grid", i),
                )
        if len(set(values)) != len(values):
            raise SpecError(f"grid values must be distinct, but got {list(values)}", path=(name, "grid"))
        object.__setattr__(self, "grid", values)

    def contains(self, value: Any) -> bool:
        if not _is_number(value) or not (self.low <= value <= self.high):
            return False
        if self._integer and not float(value).is_integer():
            return False
        if self.step is not None:
            k = (value - self.low) / self.step
            return abs(k - round(k)) <= 1e-9 * max(1.0, abs(k))
        return True

    def _fields_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"low": self.low, "high": self.high}
        if self.log:
            out["log"] = True
        if self.step is not None:
            out["step"] = self.step
        if self.grid is not None:
            out["grid"] = list(self.grid)
        if self.points is not None:
            out["points"] = self.points
        return out


@dataclass(frozen=True)
class Int(_Range):
    """An integer in ``[low, high]`` (inclusive), optionally log-scaled or stepped."""

    kind: ClassVar[str] = "int"
    low: int = 0
    high: int = 0
    step: int | None = field(default=None, kw_only=True)
    _integer: ClassVar[bool] = True

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "low", int(self.low))
        object.__setattr__(self, "high", int(self.high))
        if self.step is not None:
            object.__setattr__(self, "step", int(self.step))
        if self.grid is not None:
            object.__setattr__(self, "grid", tuple(int(v) for v in self.grid))

    @property
    def effective_step(self) -> int:
        """The spacing between allowed values (1 unless ``step`` is set)."""
        return self.step or 1


@dataclass(frozen=True)
class Float(_Range):
    """A real number in ``[low, high]`` (inclusive), optionally log-scaled or stepped."""

    kind: ClassVar[str] = "float"
    low: float = 0.0
    high: float = 0.0

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "low", float(self.low))
        object.__setattr__(self, "high", float(self.high))
        if self.step is not None:
            object.__setattr__(self, "step", float(self.step))
        if self.grid is not None:
            object.__setattr__(self, "grid", tuple(float(v) for v in self.grid))

    def on_step(self, value: float) -> float:
        """The stepped value nearest ``value`` as Optuna computes it: ``low + k * step`` kept
        within ``[low, high]`` (so ``high`` exactly, and 0.1 * 3 as 0.30000000000000004)."""
        if self.step is None:
            return value
        k = round((value - self.low) / self.step)
        return min(max(self.low + k * self.step, self.low), self.high)


@dataclass(frozen=True)
class Categorical(Param):
    """One of a list of choices, all of one type (str, int, float or bool)."""

    kind: ClassVar[str] = "categorical"
    choices: tuple[Scalar, ...] = ()

    def __post_init__(self) -> None:
        super().__post_init__()
        name = self.name
        if isinstance(self.choices, (str, bytes)) or not isinstance(self.choices, Sequence):
            raise SpecError(
                f"must be a list, but got {self.choices!r}",
                path=(name, "choices"),
                hint="single values need to be wrapped in a list",
            )
        choices = tuple(self.choices)
        if not choices:
            raise SpecError("must list at least one choice, but got an empty list", path=(name, "choices"))
        for i, choice in enumerate(choices):
            if not isinstance(choice, (str, int, float, bool)):
                raise SpecError(
                    f"choices must be strings, numbers or booleans, but got {choice!r}",
                    path=(name, "choices", i),
                )
        types = {type(c) for c in choices}
        if types == {int, float}:
            choices = tuple(float(c) for c in choices)
        elif len(types) > 1:
            raise SpecError(
                f"choices must all be of one type, but got {sorted(t.__name__ for t in types)}",
                path=(name, "choices"),
                hint="quote them all to make them strings",
            )
        if len(set(choices)) != len(choices):
            raise SpecError(f"choices must be distinct, but got {list(choices)}", path=(name, "choices"))
        object.__setattr__(self, "choices", choices)

    def contains(self, value: Any) -> bool:
        return any(value == c and type(value) is type(c) for c in self.choices)

    def domain_values(self) -> tuple[Any, ...]:
        return self.choices

    def _fields_dict(self) -> dict[str, Any]:
        return {"choices": list(self.choices)}


@dataclass(frozen=True)
class Bool(Param):
    """``False`` or ``True``."""

    kind: ClassVar[str] = "bool"

    def contains(self, value: Any) -> bool:
        return isinstance(value, bool)

    def domain_values(self) -> tuple[Any, ...]:
        return (False, True)

    def _fields_dict(self) -> dict[str, Any]:
        return {}


@dataclass(frozen=True)
class Fixed(Param):
    """A constant that every config carries (e.g. ``epochs``)."""

    kind: ClassVar[str] = "fixed"
    value: Scalar = 0

    def __post_init__(self) -> None:
        super().__post_init__()
        if not isinstance(self.value, (str, int, float, bool)):
            raise SpecError(
                f"must be a string, number or boolean, but got {self.value!r}", path=(self.name, "value")
            )
        if self.per_layer is not None:
            raise SpecError("a fixed value cannot be per-layer", path=(self.name, "per_layer"))

    def contains(self, value: Any) -> bool:
        return value == self.value and type(value) is type(self.value)

    def domain_values(self) -> tuple[Any, ...]:
        return (self.value,)

    def _fields_dict(self) -> dict[str, Any]:
        return {"value": self.value}


PARAM_KINDS: dict[str, type[Param]] = {cls.kind: cls for cls in (Int, Float, Categorical, Bool, Fixed)}
