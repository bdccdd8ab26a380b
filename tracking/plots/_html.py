"""The interactive half of a study's report: plotly figures on one offline HTML page."""

from __future__ import annotations

import html
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tracking.plots._leaderboard import Leaderboard
from tracking.plots._view import (
    BEST_COLOR,
    COMPLETE_COLOR,
    CONTOUR_PARAMS,
    HTML,
    PRUNED_COLOR,
    RUNNING_COLOR,
    _needs_complete,
    _needs_importances,
    _needs_intermediate,
    _needs_params,
    _precomputed,
    _View,
)

def _restyle_plotly_curves(fig: Any, view: _View) -> Any:
    states = view.states
    best = view.best.number if view.best is not None else None
    shown: set[str] = set()
    for trace in fig.data:
        name = trace.name or ""
        if not name.startswith("Trial"):
            continue
        number = int(name[len("Trial"):])
        state = states.get(number, "COMPLETE")
        group = "best" if number == best else state.lower()
        color, dash, width = {
            "best": (BEST_COLOR, "solid", 3.5),
            "complete": (COMPLETE_COLOR, "solid", 1.5),
            "pruned": (PRUNED_COLOR, "dash", 1.5),
        }.get(group, (RUNNING_COLOR, "dot", 1.5))
        trace.update(
            line={"color": color, "dash": dash, "width": width},
            marker={"color": color, "maxdisplayed": 10},
            opacity=1.0 if group == "best" else 0.6,
            legendgroup=group,
            name=f"best (trial {number})" if group == "best" else group,
            showlegend=group not in shown,
            hovertemplate=f"trial {number} ({state})<br>epoch %{{x}}<br>{html.escape(view.metric)} %{{y}}"
                          "<extra></extra>",
        )
        shown.add(group)
    fig.update_layout(showlegend=True, title=f"Learning curves: {view.metric} per epoch",
                      xaxis_title="epoch", yaxis_title=view.metric)
    return fig


def _contour_params(view: _View) -> list[str]:
    """The most important parameters with at least two values, for a small contour grid."""
    if view.importances is None:
        return []
    varied = {name for name in view.params if len({repr(t.params.get(name)) for t in view.complete
                                                    if name in t.params}) >= 2}
    ranked = [name for name in view.importances if name in varied]
    return ranked[:CONTOUR_PARAMS]


def _plotly_figures(view: _View, skipped: dict[str, str]) -> list[tuple[str, Any]]:
    from optuna import visualization as ov

    plans: list[tuple[str, str | None, Callable[[], Any]]] = [
        ("Optimization history", _needs_complete(view),
         lambda: ov.plot_optimization_history(view.study, target_name=view.metric)),
        ("Learning curves", _needs_intermediate(view),
         lambda: _restyle_plotly_curves(ov.plot_intermediate_values(view.study), view)),
        ("Parallel coordinates", _needs_params(view),
         lambda: ov.plot_parallel_coordinate(view.study, target_name=view.metric)),
        ("Hyperparameter importances", _needs_importances(view),
         lambda: ov.plot_param_importances(view.study, evaluator=_precomputed(view.importances or {}),
                                           params=list(view.params))),
        ("Slice", _needs_params(view), lambda: ov.plot_slice(view.study, target_name=view.metric)),
        ("Contour of the most important parameters",
         None if len(_contour_params(view)) >= 2 else "needs importances and 2 parameters that vary",
         lambda: ov.plot_contour(view.study, params=_contour_params(view), target_name=view.metric)),
        ("Timeline", None if view.trials else "no trial",
         lambda: ov.plot_timeline(view.study)),
    ]
    figures = []
    for title, reason, make in plans:
        key = f"{HTML}#{title.lower().replace(' ', '-')}"
        if reason:
            skipped[key] = reason
            continue
        try:
            fig = make()
        except Exception as exc:  # noqa: BLE001
            skipped[key] = f"drawing failed: {type(exc).__name__}: {exc}"
            continue
        figures.append((title, fig))
    return figures


_PAGE_STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; font-size: 12px; }
th, td { border: 1px solid #ccc; padding: 2px 6px; text-align: right; white-space: nowrap; }
th { background: #f0f0f0; position: sticky; top: 0; }
tr.PRUNED td { color: #a33; } tr.FAIL td { color: #888; }
.board { max-height: 28em; overflow: auto; margin-bottom: 1.5em; }
.figure { margin-bottom: 1.5em; }
"""


def _fmt(column: str, value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}" if column == "objective" else f"{value:.4g}"
    return str(value)


def _html_table(board: Leaderboard) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in board.columns)
    rows = "".join(
        f'<tr class="{html.escape(row["state"])}">'
        + "".join(f"<td>{html.escape(_fmt(c, row[c]))}</td>" for c in board.columns) + "</tr>"
        for row in board.rows
    )
    return f'<div class="board"><table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table></div>'


def _write_html(view: _View, board: Leaderboard, figures: list[tuple[str, Any]], skipped: dict[str, str],
                path: Path, title: str) -> Path:
    import plotly.io as pio
    from plotly.offline import get_plotlyjs

    parts = []
    for index, (name, fig) in enumerate(figures):
        div = pio.to_html(fig, full_html=False, include_plotlyjs=False, div_id=f"figure-{index}",
                          config={"responsive": True, "displaylogo": False})
        parts.append(f'<div class="figure"><h2>{html.escape(name)}</h2>{div}</div>')
    counts: dict[str, int] = {}
    for row in board.rows:
        counts[row["state"]] = counts.get(row["state"], 0) + 1
    summary = ", ".join(f"{n} {s.lower()}" for s, n in counts.items()) or "no trials"
    best = (f"Best: trial {view.best.number}, {html.escape(view.metric)} = {view.best.value:.6g}."
            if view.best is not None else "No complete trial yet.")
    skipped_html = ""
    if skipped:
        items = "".join(f"<li><code>{html.escape(k)}</code>: {html.escape(v)}</li>" for k, v in skipped.items())
        skipped_html = f"<h2>Not drawn</h2><ul>{items}</ul>"
    page = (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{html.escape(title)}</title><style>{_PAGE_STYLE}</style>"
        f'<script type="text/javascript">{get_plotlyjs()}</script></head><body>'
        f"<h1>{html.escape(title)}</h1>"
        f"<p>Objective <code>{html.escape(view.metric)}</code> ({html.escape(view.direction)}). "
        f"Trials: {html.escape(summary)}. {best}</p>"
        f"<h2>Leaderboard</h2>{_html_table(board)}{''.join(parts)}{skipped_html}</body></html>\n"
    )
    path.write_text(page, encoding="utf-8")
    return path


# --- the report ----------------------------------------------------------------------------
