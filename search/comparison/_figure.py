"""The comparison's PNG: best-so-far against fits and seconds, an overview and a zoom near the best.

Top row: the whole search (a log axis when the values span a wide positive range).
Bottom row: a linear axis around the strategies' final best values, where they differ
(14.8 against 15.4 is a few pixels on a 600-to-15 axis, half the panel here). Every
curve ends where its strategy stopped, marked with a dot; the legend gives each
strategy's test score, fits and seconds; the title the budget. A band (worst to best
repeat) is drawn only when a strategy ran more than once.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from search.comparison._strategies import StrategyRun


def _finals(curves_by_strategy: dict[str, tuple[np.ndarray, ...]]) -> list[float]:
    out = []
    for _, mean, _, _ in curves_by_strategy.values():
        finite = mean[np.isfinite(mean)]
        if len(finite):
            out.append(float(finite[-1]))
    return out


def zoom_limits(finals: Sequence[float], direction: str, grid: float | None = None) -> tuple[float, float] | None:
    """The y range around the final best values (and the grid's best), with room on the worse side."""
    values = [v for v in [*finals, *([grid] if grid is not None else [])] if math.isfinite(v)]
    if not values:
        return None
    low, high = min(values), max(values)
    span = high - low or max(abs(low) * 0.02, 1e-3)
    if direction == "minimize":
        return low - 0.3 * span, high + 1.0 * span
    return low - 1.0 * span, high + 0.3 * span


def legend_label(strategy: str, runs: Sequence[StrategyRun]) -> str:
    """``tpe: test 15.2, 20 fits, 96 s`` (means over the strategy's repeats)."""
    mine = [r for r in runs if r.strategy == strategy]
    tests = [r.test_value for r in mine if not math.isnan(r.test_value)]
    test = f"test {np.mean(tests):.4g}" if tests else "no test score"
    fits = np.mean([r.fits for r in mine])
    seconds = np.mean([r.timeline[-1].seconds if r.timeline else 0.0 for r in mine])
    return f"{strategy}: {test}, {fits:.0f} fits, {seconds:.0f} s"


def draw_png(runs: Sequence[StrategyRun], ctx: Any, path: Path, *, log: bool, grid: float | None) -> None:
    """Write the 2x2 figure (overview and zoom; against fits and seconds) to ``path``."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    from search.comparison._curves import curves

    repeats = {s: sum(1 for r in runs if r.strategy == s) for s in dict.fromkeys(r.strategy for r in runs)}
    fig, axes = plt.subplots(2, 2, figsize=(13, 8.5), dpi=100)
    for col, (attr, xlabel) in enumerate((("fits", "model fits"), ("seconds", "wall-clock seconds"))):
        drawn = curves(runs, attr)
        zoom = zoom_limits(_finals(drawn), ctx.direction, grid)
        for row in (0, 1):
            ax = axes[row][col]
            for strategy, (xs, mean, low, high) in drawn.items():
                (line,) = ax.plot(xs, mean, drawstyle="steps-post", linewidth=1.8,
                                  label=legend_label(strategy, runs))
                ok = np.isfinite(mean)
                if ok.any():
                    ax.plot(xs[ok][-1], mean[ok][-1], "o", color=line.get_color(), markersize=5)
                if repeats[strategy] > 1:
                    ax.fill_between(xs, low, high, step="post", alpha=0.18, color=line.get_color())
            if grid is not None:
                ax.axhline(grid, color="black", linestyle="--", linewidth=1, label=f"grid's best {grid:.4g}")
            ax.set_xlabel(xlabel)
            ax.grid(alpha=0.3, which="both")
            if row == 0:
                ax.set_ylabel(f"best {ctx.label} so far ({ctx.direction}{', log scale' if log else ''})")
                if log:
                    ax.set_yscale("log")
            else:
                ax.set_ylabel(f"best {ctx.label}, zoomed near the best (linear)")
                if zoom is not None:
                    ax.set_ylim(*zoom)
    axes[0][0].legend(loc="best", fontsize=8)
    band = "; band: worst to best repeat" if max(repeats.values(), default=1) > 1 else ""
    fig.suptitle(f"{ctx.study}: best-so-far {ctx.metric}, mean over repeats{band}\n"
                 f"budget {ctx.budget} per strategy (grid: all {ctx.grid_fits} fits), {ctx.folds} split(s) per "
                 f"config, {ctx.workers} worker(s); a dot marks where each strategy stopped", fontsize=11)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
