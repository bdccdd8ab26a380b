"""Compile a SearchSpace to a finite scikit-learn grid (``model__``-prefixed ``param_grid``).

Ranges become ``grid: [...]`` when given, else ``points`` values evenly spaced (in log
space when ``log: true``), both endpoints included. A per-layer parameter has one
value shared by all layers, as ``n_neurons`` does in the course notebooks. ``when``
parameters split the grid into sub-grids, so no inactive combination is counted.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Sequence
from typing import Any

from spaces.core._errors import SpecError
from spaces._params import Float, Int, Param
from spaces._space import SearchSpace

DEFAULT_POINTS = 3
SubGrid = dict[str, list[Any]]


def grid_values(param: Param, points: int = DEFAULT_POINTS) -> list[Any]:
    """The finite values of one parameter, endpoints included for ranges."""
    domain = param.domain_values()
    if domain is not None:
        return list(domain)
    assert isinstance(param, (Int, Float))
    if param.grid is not None:
        return list(param.grid)
    n = param.points or points
    if not isinstance(n, int) or isinstance(n, bool) or n < 2:
        raise SpecError(f"must be a whole number >= 2, but got {n!r}", path=("grid", "points"))
    if param.low == param.high:
        return [param.low]
    if param.log:
        ratio = math.log(param.high / param.low)
        raw = [param.low * math.exp(ratio * i / (n - 1)) for i in range(n)]
    else:
        raw = [param.low + (param.high - param.low) * i / (n - 1) for i in range(n)]
    raw[0], raw[-1] = param.low, param.high
    if isinstance(param, Int):
        step = param.effective_step
        values: list[Any] = [int(param.low + round((v - param.low) / step) * step) for v in raw]
    else:
        values = [param.on_step(float(v)) for v in raw]
    return list(dict.fromkeys(values))


def _controllers(space: SearchSpace) -> set[str]:
    return {parent for p in space for parent, _ in p.when}


def sub_grids(space: SearchSpace, points: int = DEFAULT_POINTS) -> list[SubGrid]:
    """The grid as unprefixed sub-grids, one per combination of condition values."""
    values = {p.name: grid_values(p, points) for p in space}
    controllers = _controllers(space)
    assignments: list[dict[str, Any]] = [{}]
    for p in space.ordered:
        if p.name not in controllers:
            continue
        assignments = [
            {**a, p.name: v} if space.condition_holds(p, a) else a
            for a in assignments
            for v in (values[p.name] if space.condition_holds(p, a) else [None])
        ]
    grids: list[SubGrid] = []
    for a in assignments:
        active: set[str] = set()
        grid: SubGrid = {}
        for p in space.ordered:
            if not space.condition_holds(p, a) or (p.per_layer and p.per_layer not in active):
                continue
            active.add(p.name)
            grid[p.name] = [a[p.name]] if p.name in controllers else list(values[p.name])
        grids.extend(_split_zero_layers(space, grid))
    return _merge(grids)


def _split_zero_layers(space: SearchSpace, grid: SubGrid) -> list[SubGrid]:
    """Give a layer count of 0 its own sub-grid without the per-layer parameters it removes."""
    for count in sorted({space[k].per_layer for k in grid if space[k].per_layer}):  # type: ignore[type-var]
        if 0 not in grid.get(count, ()):
            continue
        empty = {k: v for k, v in grid.items() if space[k].per_layer != count}
        empty[count] = [0]
        rest = [v for v in grid[count] if v != 0]
        tail = _split_zero_layers(space, {**grid, count: rest}) if rest else []
        return _split_zero_layers(space, empty) + tail
    return [grid]


def _merge(grids: list[SubGrid]) -> list[SubGrid]:
    """Join sub-grids that differ in one key only (``optimizer: [adam, rmsprop]``)."""
    merged = True
    while merged:
        merged = False
        for i, j in itertools.combinations(range(len(grids)), 2):
            a, b = grids[i], grids[j]
            if a.keys() != b.keys():
                continue
            differ = [k for k in a if a[k] != b[k]]
            if len(differ) == 1:
                k = differ[0]
                a[k] = a[k] + [v for v in b[k] if v not in a[k]]
                del grids[j]
                merged = True
                break
    return grids


def to_param_grid(
    space: SearchSpace,
    *,
    points: int = DEFAULT_POINTS,
    prefix: str = "model__",
    unprefixed: Sequence[str] = (),
) -> list[dict[str, list[Any]]]:
    """scikit-learn ``param_grid`` (a list of dicts); names in ``unprefixed`` keep their name."""
    return [
        {(k if k in unprefixed else prefix + k): v for k, v in sorted(g.items())}
        for g in sub_grids(space, points)
    ]


def grid_size(space: SearchSpace, points: int = DEFAULT_POINTS) -> int:
    """How many configs the grid holds, known before anything runs."""
    return sum(math.prod(len(v) for v in g.values()) for g in sub_grids(space, points))


def iter_grid(space: SearchSpace, points: int = DEFAULT_POINTS) -> Iterator[dict[str, Any]]:
    """Every grid point as a full config (per-layer values copied to each layer)."""
    for g in sub_grids(space, points):
        keys = sorted(g)
        for combo in itertools.product(*(g[k] for k in keys)):
            yield space.expand_shared(dict(zip(keys, combo)))
