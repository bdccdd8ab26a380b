"""Best-so-far curves of a comparison: each strategy's mean, worst and best repeat, ending where it stopped."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from search.comparison._strategies import StrategyRun

TIME_POINTS = 200


def _step(run: StrategyRun, xs: np.ndarray, attr: str) -> np.ndarray:
    """Best-so-far of ``run`` at each x (fits or seconds); NaN before its first scored config."""
    out = np.full(len(xs), np.nan)
    points = [(getattr(p, attr), p.best) for p in run.timeline if p.best is not None]
    j, current = 0, math.nan
    for i, x in enumerate(xs):
        while j < len(points) and points[j][0] <= x:
            current = points[j][1]
            j += 1
        out[i] = current
    return out


def strategy_end(runs: Sequence[StrategyRun], strategy: str, attr: str) -> float:
    """Where ``strategy`` stopped: its last fit (or second), the latest over its repeats."""
    return max((getattr(r.timeline[-1], attr) for r in runs if r.strategy == strategy and r.timeline), default=0)


def curves(runs: Sequence[StrategyRun], attr: str) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """Per strategy: x, mean, low, high of best-so-far over repeats against ``fits`` or ``seconds``.

    Each strategy's x ends where it stopped (its own last fit or second), not where the
    longest strategy did: a curve drawn past its end would claim fits it never made.
    """
    out = {}
    for strategy in dict.fromkeys(r.strategy for r in runs):
        end = strategy_end(runs, strategy, attr)
        xs = (np.arange(1, int(end) + 1, dtype=float) if attr == "fits"
              else np.linspace(0.0, float(end), TIME_POINTS))
        if not len(xs):
            xs = np.array([1.0 if attr == "fits" else 0.0])
        ys = np.array([_step(r, xs, attr) for r in runs if r.strategy == strategy])
        with np.errstate(all="ignore"), _no_warnings():
            mean, low, high = np.nanmean(ys, axis=0), np.nanmin(ys, axis=0), np.nanmax(ys, axis=0)
        out[strategy] = (xs, mean, low, high)
    return out


class _no_warnings:
    def __enter__(self) -> None:
        import warnings

        self._ctx = warnings.catch_warnings()
        self._ctx.__enter__()
        warnings.simplefilter("ignore")

    def __exit__(self, *exc: Any) -> None:
        self._ctx.__exit__(*exc)
