"""The comparison report: curves (PNG + offline HTML) and the table (CSV + Markdown).

Curves: best-so-far validation value against fits and against wall-clock seconds, one
line per strategy (the mean over repeats, ending where the strategy stopped) with a band
from the worst to the best repeat (when there are several), and the grid's best as a
dashed line; the PNG adds a zoomed panel near the best values (:mod:`._figure`). Table, one row per strategy: best validation value
and the refit best model's test value (mean and standard deviation over repeats), how
many repeats reached the grid's best of the same repeat, the fits and seconds it took
them (mean over those repeats, ``never`` when none did), fits, epochs and total time.
"""

from __future__ import annotations

import csv
import html
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from search.comparison._curves import curves
from search.comparison._strategies import StrategyRun

PNG = "best_so_far.png"
HTML = "compare_report.html"
SUMMARY_CSV = "summary.csv"
SUMMARY_MD = "summary.md"
RUNS_CSV = "runs.csv"
REPORT_FILES = (PNG, HTML, SUMMARY_CSV, SUMMARY_MD, RUNS_CSV)
COLUMNS = ("strategy", "repeats", "best_validation", "best_validation_sd", "test_score", "test_score_sd",
           "reached_grid_best", "fits_to_grid_best", "seconds_to_grid_best", "fits", "epochs", "total_seconds")
RUN_COLUMNS = ("strategy", "repeat", "seed", "best_validation", "test_score", "fits_to_grid_best",
               "seconds_to_grid_best", "fits", "epochs", "search_seconds", "refit_seconds", "total_seconds",
               "best_config", "note")


@dataclass(frozen=True)
class Context:
    """What the report says about the comparison as a whole."""

    study: str
    metric: str  # the study's objective, e.g. val_accuracy
    label: str  # the scorer's quantity, e.g. accuracy / mse
    direction: str
    budget: str
    workers: int
    folds: int
    grid_fits: int


def grid_targets(runs: Sequence[StrategyRun]) -> dict[int, float]:
    """The grid's best value per repeat (what the other strategies try to reach)."""
    return {r.repeat: r.best.value for r in runs if r.strategy == "grid" and r.best is not None}


def _mean_sd(values: list[float]) -> tuple[float, float]:
    finite = [v for v in values if v is not None and not math.isnan(v)]
    if not finite:
        return math.nan, math.nan
    return float(np.mean(finite)), float(np.std(finite, ddof=1)) if len(finite) > 1 else math.nan  # no spread of one


def run_rows(runs: Sequence[StrategyRun]) -> list[dict[str, Any]]:
    """One row per strategy and repeat."""
    targets = grid_targets(runs)
    rows = []
    for r in runs:
        hit = r.reached(targets.get(r.repeat))
        rows.append({
            "strategy": r.strategy, "repeat": r.repeat, "seed": r.seed,
            "best_validation": r.best.value if r.best else math.nan, "test_score": r.test_value,
            "fits_to_grid_best": hit.fits if hit else ("never" if r.repeat in targets else "n/a"),
            "seconds_to_grid_best": round(hit.seconds, 2) if hit else ("never" if r.repeat in targets else "n/a"),
            "fits": r.fits, "epochs": r.epochs, "search_seconds": round(r.search_seconds, 2),
            "refit_seconds": round(r.refit_seconds, 2), "total_seconds": round(r.total_seconds, 2),
            "best_config": json.dumps(r.best.config, default=str) if r.best else "", "note": r.note,
        })
    return rows


def summary_rows(runs: Sequence[StrategyRun]) -> list[dict[str, Any]]:
    """One row per strategy, aggregated over its repeats."""
    per_run = run_rows(runs)
    out = []
    for strategy in dict.fromkeys(r.strategy for r in runs):
        rows = [row for row in per_run if row["strategy"] == strategy]
        best, best_sd = _mean_sd([row["best_validation"] for row in rows])
        test, test_sd = _mean_sd([row["test_score"] for row in rows])
        hits = [row for row in rows if isinstance(row["fits_to_grid_best"], int)]
        known = [row for row in rows if row["fits_to_grid_best"] != "n/a"]
        if not known:
            fits_to = seconds_to = reached = "n/a"
        else:
            reached = f"{len(hits)}/{len(known)}"
            fits_to = round(float(np.mean([h["fits_to_grid_best"] for h in hits])), 1) if hits else "never"
            seconds_to = round(float(np.mean([h["seconds_to_grid_best"] for h in hits])), 1) if hits else "never"
        out.append({
            "strategy": strategy, "repeats": len(rows), "best_validation": best, "best_validation_sd": best_sd,
            "test_score": test, "test_score_sd": test_sd, "reached_grid_best": reached,
            "fits_to_grid_best": fits_to, "seconds_to_grid_best": seconds_to,
            "fits": round(float(np.mean([row["fits"] for row in rows])), 1),
            "epochs": round(float(np.mean([row["epochs"] for row in rows])), 1),
            "total_seconds": round(float(np.mean([row["total_seconds"] for row in rows])), 1),
        })
    return out


VALUE_COLUMNS = ("best_validation", "best_validation_sd", "test_score", "test_score_sd")


def cell(value: Any, column: str = "") -> str:
    """A table cell: values with 4 decimals (6 significant digits when large), counts and seconds with 1."""
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        if column in VALUE_COLUMNS:
            return f"{value:.4f}" if abs(value) < 100 else f"{value:.6g}"
        return str(int(value)) if value.is_integer() else f"{value:.1f}"
    return str(value)


def markdown_table(rows: Sequence[dict[str, Any]], columns: Sequence[str] = COLUMNS) -> str:
    """A GitHub-flavoured Markdown table."""
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(row[c], c) for c in columns) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _write_csv(rows: Sequence[dict[str, Any]], columns: Sequence[str], path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(columns))
        writer.writeheader()
        for row in rows:
            writer.writerow({c: "" if isinstance(row[c], float) and math.isnan(row[c]) else row[c] for c in columns})


def _grid_line(runs: Sequence[StrategyRun]) -> float | None:
    targets = list(grid_targets(runs).values())
    return float(np.mean(targets)) if targets else None


def wants_log_scale(values: Iterable[float], spread: float = 20.0) -> bool:
    """True when the best-so-far values are all positive and span more than ``spread`` times.

    An MSE that falls from 600 to 13 hides the end of the search, where the strategies
    differ, on a linear axis; a log axis shows both.
    """
    finite = [v for v in values if math.isfinite(v)]
    return bool(finite) and min(finite) > 0 and max(finite) / min(finite) > spread


def _axis_note(ctx: Context, log: bool) -> str:
    return f"{ctx.direction}, log scale" if log else ctx.direction


def _png(runs: Sequence[StrategyRun], ctx: Context, path: Path, *, log: bool) -> None:
    from search.comparison._figure import draw_png

    draw_png(runs, ctx, path, log=log, grid=_grid_line(runs))


def _plotly_figure(runs: Sequence[StrategyRun], ctx: Context, attr: str, xlabel: str, *, log: bool) -> Any:
    import plotly.graph_objects as go
    from plotly.colors import qualitative

    from search.comparison._figure import legend_label

    fig = go.Figure()
    for i, (strategy, (xs, mean, low, high)) in enumerate(curves(runs, attr).items()):
        color = qualitative.Plotly[i % len(qualitative.Plotly)]
        if sum(1 for r in runs if r.strategy == strategy) > 1:  # no spread to show for one repeat
            fig.add_trace(go.Scatter(x=xs, y=high, line={"width": 0, "shape": "hv", "color": color},
                                     showlegend=False, legendgroup=strategy, hoverinfo="skip"))
            fig.add_trace(go.Scatter(x=xs, y=low, line={"width": 0, "shape": "hv", "color": color},
                                     fill="tonexty", opacity=0.2, showlegend=False, legendgroup=strategy,
                                     hoverinfo="skip"))
        fig.add_trace(go.Scatter(x=xs, y=mean, name=legend_label(strategy, runs), legendgroup=strategy,
                                 line={"shape": "hv", "color": color, "width": 2}))
    grid = _grid_line(runs)
    if grid is not None:
        fig.add_hline(y=grid, line_dash="dash", line_color="black", annotation_text="grid's best")
    fig.update_layout(title=f"best {ctx.label} so far vs {xlabel}", xaxis_title=xlabel,
                      yaxis_title=f"best {ctx.label} ({_axis_note(ctx, log)})", template="plotly_white", height=460,
                      yaxis_type="log" if log else "linear")
    return fig


def _html_table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(cell(row[c], c))}</td>" for c in columns) + "</tr>"
                   for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


_STYLE = ("body{font-family:sans-serif;margin:1.5em;max-width:1300px}table{border-collapse:collapse;margin:1em 0}"
          "td,th{border:1px solid #ccc;padding:3px 8px;font-size:13px;text-align:right}th{background:#f3f3f3}"
          "td:first-child{text-align:left}")


def _html(runs: Sequence[StrategyRun], ctx: Context, summary: list[dict[str, Any]], per_run: list[dict[str, Any]],
          path: Path, *, log: bool) -> None:
    import plotly.io as pio
    from plotly.offline import get_plotlyjs

    figures = [_plotly_figure(runs, ctx, "fits", "model fits", log=log),
               _plotly_figure(runs, ctx, "seconds", "seconds", log=log)]
    divs = "".join(pio.to_html(f, full_html=False, include_plotlyjs=False, div_id=f"figure-{i}",
                               config={"responsive": True, "displaylogo": False}) for i, f in enumerate(figures))
    title = f"{ctx.study}: grid search against the other strategies"
    page = (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style>"
        f'<script type="text/javascript">{get_plotlyjs()}</script></head><body>'
        f"<h1>{html.escape(title)}</h1>"
        f"<p>Objective <code>{html.escape(ctx.metric)}</code> ({html.escape(ctx.label)}, {ctx.direction}); "
        f"{ctx.folds} split(s) per config; budget {html.escape(ctx.budget)} per strategy (the grid: all "
        f"{ctx.grid_fits} fits); {ctx.workers} worker(s).</p>"
        f"<h2>Summary (mean over repeats)</h2>{_html_table(summary, COLUMNS)}{divs}"
        f"<h2>Every repeat</h2>{_html_table(per_run, RUN_COLUMNS)}</body></html>\n"
    )
    path.write_text(page, encoding="utf-8")


def write_report(runs: Sequence[StrategyRun], ctx: Context, out_dir: Path) -> list[Path]:
    """Write PNG, HTML, summary CSV/MD and per-repeat CSV into ``out_dir``; returns the paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    summary, per_run = summary_rows(runs), run_rows(runs)
    log = wants_log_scale(p.best for r in runs for p in r.timeline if p.best is not None)  # one axis for both
    _png(runs, ctx, out_dir / PNG, log=log)
    _html(runs, ctx, summary, per_run, out_dir / HTML, log=log)
    _write_csv(summary, COLUMNS, out_dir / SUMMARY_CSV)
    _write_csv(per_run, RUN_COLUMNS, out_dir / RUNS_CSV)
    md = (f"# {ctx.study}: strategies compared\n\nObjective `{ctx.metric}` ({ctx.label}, {ctx.direction}), "
          f"{ctx.folds} split(s) per config, budget {ctx.budget} per strategy (grid: {ctx.grid_fits} fits), "
          f"{ctx.workers} worker(s). Mean over repeats; `reached_grid_best` counts repeats whose best-so-far "
          f"reached the grid's best of the same repeat, and the fits/seconds columns average those.\n\n"
          + markdown_table(summary))
    (out_dir / SUMMARY_MD).write_text(md, encoding="utf-8")
    return [out_dir / name for name in REPORT_FILES]
