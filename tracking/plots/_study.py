"""The per-study report: Optuna's plots as PNGs, one offline HTML page, a leaderboard.

``write_study_report`` reads the study once (a consistent snapshot even while
workers keep writing), then draws what the trials allow. A plot that cannot be
drawn (no complete trial, no intermediate values, too few trials for importances...)
is skipped and named with its reason in ``skipped.txt``; nothing here raises for a
small, empty or odd study.

Files (``REPORT_FILES``): ``optimization_history.png``, ``intermediate_values.png``
(learning curves: complete trials in blue, pruned ones in red, dashed, with an ``x``
where they stopped, the best trial thick green), ``parallel_coordinate.png``,
``param_importances.png``, ``slice.png``, ``study_report.html`` (every plotly figure,
the leaderboard, plotly.js embedded once: works offline), ``leaderboard.csv``,
``leaderboard.md`` and ``skipped.txt`` (one ``file: reason`` line per skipped plot,
empty when nothing was skipped).

Importances use Optuna's default evaluator (PED-ANOVA): it is deterministic (no
seed involved) and, unlike fANOVA, it also rates conditional parameters
(``momentum`` only for sgd, ``units_1`` only with two layers). Parameters are
passed in sorted order so ties are ordered the same in every process.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tracking.plots._leaderboard import LEADERBOARD_CSV, LEADERBOARD_MD, build_leaderboard, write_csv, write_markdown
from tracking.plots._html import _plotly_figures, _write_html
from tracking.plots._trial import PYPLOT_LOCK
from tracking.plots._view import (
    ARTIFACT_PATH,
    BEST_COLOR,
    COMPLETE_COLOR,
    DPI,
    HISTORY,
    HTML,
    IMPORTANCES,
    INTERMEDIATE,
    MAX_PNG_WIDTH_INCHES,
    PARALLEL,
    PNG_FILES,
    PRUNED_COLOR,
    REPORT_FILES,
    RUNNING_COLOR,
    SKIPPED,
    SLICE,
    SLICE_COLUMNS,
    _needs_complete,
    _needs_importances,
    _needs_intermediate,
    _needs_params,
    _precomputed,
    _quiet,
    _read,
    _View,
)

def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _figure_of(axes: Any) -> Any:
    import numpy as np

    if isinstance(axes, (np.ndarray, list, tuple)):
        axes = np.asarray(axes, dtype=object).flat[0]
    return axes.get_figure()


def _restyle_learning_curves(ax: Any, view: _View) -> None:
    """Colour the intermediate-values lines by state: Optuna's own plot does not tell pruned ones apart."""
    from matplotlib.lines import Line2D

    states = view.states
    best = view.best.number if view.best is not None else None
    counts: dict[str, int] = {}
    for line in ax.get_lines():
        label = line.get_label()
        if not label.startswith("Trial"):
            continue
        number = int(label[len("Trial"):])
        state = states.get(number, "COMPLETE")
        counts[state] = counts.get(state, 0) + 1
        line.set_marker("")
        if number == best:
            line.set(color=BEST_COLOR, linewidth=2.6, alpha=1.0, zorder=4)
        elif state == "PRUNED":
            line.set(color=PRUNED_COLOR, linestyle="--", linewidth=1.1, alpha=0.65, zorder=3)
            x, y = line.get_data()
            if len(x):
                ax.plot([x[-1]], [y[-1]], marker="x", color=PRUNED_COLOR, markersize=6, alpha=0.9, zorder=3)
        elif state == "COMPLETE":
            line.set(color=COMPLETE_COLOR, linewidth=1.2, alpha=0.55, zorder=2)
        else:
            line.set(color=RUNNING_COLOR, linestyle=":", linewidth=1.2, alpha=0.7, zorder=1)
    handles = []
    if best is not None:
        handles.append(Line2D([], [], color=BEST_COLOR, linewidth=2.6, label=f"best (trial {best})"))
    if counts.get("COMPLETE"):
        handles.append(Line2D([], [], color=COMPLETE_COLOR, label=f"complete ({counts['COMPLETE']})"))
    if counts.get("PRUNED"):
        handles.append(Line2D([], [], color=PRUNED_COLOR, linestyle="--", marker="x",
                              label=f"pruned ({counts['PRUNED']})"))
    if counts.get("RUNNING"):
        handles.append(Line2D([], [], color=RUNNING_COLOR, linestyle=":", label=f"running ({counts['RUNNING']})"))
    legend = ax.get_legend()
    if legend is not None:
        legend.remove()
    ax.legend(handles=handles, loc="best", fontsize=8, framealpha=0.8)
    ax.set_title(f"Learning curves: {view.metric} per epoch")
    ax.set_xlabel("epoch")
    ax.set_ylabel(view.metric)


def _png_history(view: _View) -> Any:
    from optuna.visualization import matplotlib as ovm

    ax = ovm.plot_optimization_history(view.study, target_name=view.metric)
    ax.set_title(f"Optimization history ({view.direction} {view.metric})")
    ax.legend(loc="best", fontsize=9)  # Optuna puts it outside the axes, where it gets cut off
    _figure_of(ax).set_size_inches(8, 4.5)
    return ax


def _png_intermediate(view: _View) -> Any:
    from optuna.visualization import matplotlib as ovm

    ax = ovm.plot_intermediate_values(view.study)
    _restyle_learning_curves(ax, view)
    _figure_of(ax).set_size_inches(8, 4.8)
    return ax


def _log_ticks(ratio: float) -> tuple[float, ...] | None:
    """Which multiples of each power of ten to label on a log axis spanning ``high / low = ratio``."""
    if ratio >= 100:
        return None  # powers of ten only
    if ratio >= 10:
        return (1.0, 2.0, 5.0)
    if ratio >= 3:
        return (1.0, 2.0, 3.0, 5.0)
    return tuple(float(i) for i in range(1, 10))


def _quiet_log_axes(axes: Any) -> None:
    """Readable log axes: Optuna leaves matplotlib's minor labels (``2x10^1 3x10^1 ...``), which overlap.

    Minor ticks lose their labels; spans under two decades get plain labels at 1, 2, 5
    (or more) times each power of ten, wider spans label the powers of ten only.
    """
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    for ax in axes:
        for axis, limits in ((ax.xaxis, ax.get_xlim()), (ax.yaxis, ax.get_ylim())):
            low, high = sorted(limits)
            if axis.get_scale() != "log" or not low > 0:
                continue
            subs = _log_ticks(high / low)
            if subs is not None:
                axis.set_major_locator(LogLocator(subs=subs))
                axis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
            axis.set_minor_formatter(NullFormatter())


def _png_parallel(view: _View) -> Any:
    from optuna.visualization import matplotlib as ovm

    ax = ovm.plot_parallel_coordinate(view.study, target_name=view.metric)
    fig = _figure_of(ax)
    width = min(MAX_PNG_WIDTH_INCHES, max(8.0, 1.4 * (len(view.params) + 1) + 3))
    fig.set_size_inches(width, 5.5)
    ax.set_title(f"Parallel coordinates ({view.metric}; None = parameter absent)", y=1.03)
    for axis in fig.axes:
        axis.grid(False)
        axis.tick_params(labelsize=8)
    _quiet_log_axes(fig.axes)
    bar = next((c.colorbar for c in ax.collections if getattr(c, "colorbar", None) is not None), None)
    box = [0.7 / width, 0.2, 1 - 2.2 / width - 0.7 / width, 0.68]
    for axis in fig.axes:
        if bar is None or axis is not bar.ax:
            axis.set_position(box)
    if bar is not None:
        bar.ax.set_position([box[0] + box[2] + 0.9 / width, box[1], 0.15 / width, box[3]])
    return ax


def _png_importances(view: _View) -> Any:
    from optuna.visualization import matplotlib as ovm

    assert view.importances is not None
    ax = ovm.plot_param_importances(view.study, evaluator=_precomputed(view.importances), params=list(view.params))
    ax.set_title(f"Hyperparameter importances for {view.metric} (PED-ANOVA)", loc="left")
    fig = _figure_of(ax)
    fig.set_size_inches(7.5, max(3.0, 0.4 * len(view.importances) + 1.5))
    fig.set_layout_engine("tight")
    return ax


def _png_slice(view: _View) -> Any:
    """Optuna's slice plot, its one row of subplots folded into rows of ``SLICE_COLUMNS``."""
    import numpy as np
    from optuna.visualization import matplotlib as ovm

    axes = ovm.plot_slice(view.study, target_name=view.metric)
    fig = _figure_of(axes)
    axes = list(np.atleast_1d(axes).flat)
    columns = min(SLICE_COLUMNS, len(axes))
    rows = math.ceil(len(axes) / columns)
    width, height = max(5.5, 3.0 * columns + 1.6), 3.0 * rows + 0.8
    fig.set_size_inches(width, height)
    colorbars = [a for a in fig.axes if a not in axes]
    scatter = next((c for c in axes[-1].collections if c.get_array() is not None), None)
    if scatter is not None:
        for bar in colorbars:
            bar.remove()
        grid = fig.add_gridspec(rows, columns, hspace=0.55, wspace=0.08, left=0.8 / width, right=1 - 0.9 / width,
                                bottom=0.75 / height, top=1 - 0.5 / height)
        for index, ax in enumerate(axes):
            ax.set_subplotspec(grid[index // columns, index % columns])
            ax.tick_params(labelleft=index % columns == 0)
            ax.set_ylabel(view.metric if index % columns == 0 else "")
        fig.colorbar(scatter, ax=axes, fraction=0.03, pad=0.02).set_label("trial")
    fig.suptitle(f"Slice plot: {view.metric} per parameter")
    for ax in axes:
        ax.set_title("")  # Optuna titles a lone subplot "Slice Plot" too
    for ax in axes:
        ax.tick_params(labelsize=8)
        for label in ax.get_xticklabels():
            label.set_rotation(20 if len(label.get_text()) > 5 else 0)
    _quiet_log_axes(axes)
    return axes


_PNGS: tuple[tuple[str, Callable[[_View], str | None], Callable[[_View], Any]], ...] = (
    (HISTORY, _needs_complete, _png_history),
    (INTERMEDIATE, _needs_intermediate, _png_intermediate),
    (PARALLEL, _needs_params, _png_parallel),
    (IMPORTANCES, _needs_importances, _png_importances),
    (SLICE, _needs_params, _png_slice),
)


def _draw_pngs(view: _View, out_dir: Path, skipped: dict[str, str]) -> list[Path]:
    plt = _pyplot()
    import matplotlib

    written = []
    with PYPLOT_LOCK:
        for name, needs, draw in _PNGS:
            reason = needs(view)
            if reason:
                skipped[name] = reason
                continue
            before = set(plt.get_fignums())
            try:
                with matplotlib.rc_context():  # Optuna switches pyplot to the ggplot style: undone on exit
                    plt.style.use("default")  # the same pictures whatever the process's own style
                    fig = _figure_of(draw(view))
                    fig.savefig(out_dir / name, dpi=DPI)
                written.append(out_dir / name)
            except Exception as exc:  # noqa: BLE001 - one plot's failure must not lose the report
                skipped[name] = f"drawing failed: {type(exc).__name__}: {exc}"
            finally:
                for number in set(plt.get_fignums()) - before:
                    plt.close(number)
    return written


def warm_up() -> None:
    """Do the report's one-time work ahead of it: the imports (Optuna's importance module alone pulls in
    scikit-learn's forests, about 3 s) and a first figure drawn (the font cache). A run calls it on a
    background thread while its workers train, so its final report costs only the drawing."""
    import io

    import optuna.importance
    import optuna.visualization  # noqa: F401
    import plotly.graph_objects as go
    import plotly.io as pio

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(2, 2))
    ax.plot([0, 1], [0, 1])
    ax.set_title("warm-up")
    fig.savefig(io.BytesIO(), format="png")
    plt.close(fig)
    pio.to_json(go.Figure(go.Scatter(x=[0, 1], y=[0, 1])))


# --- interactive figures -------------------------------------------------------------------

def write_study_report(optuna_study: Any, out_dir: Path, *, metric: str, direction: str) -> list[Path]:
    """Write the study's report into ``out_dir``; returns the files written.

    ``skipped.txt`` (always written, last in the list) names each plot that could not be
    drawn and why. Report files of an earlier call that were not written this time are
    removed; other files in ``out_dir`` are left alone. The leaderboard ranks complete
    trials in ``direction``; the plots follow the study's own direction.
    """
    if direction not in ("minimize", "maximize"):
        raise ValueError(f"direction must be 'minimize' or 'maximize', got {direction!r}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    title = f"Study {optuna_study.study_name}"
    skipped: dict[str, str] = {}
    with _quiet():
        view = _read(optuna_study, metric, direction)
        if len(optuna_study.directions) != 1:
            for name in PNG_FILES:
                skipped[name] = "the study has several objectives"
            pngs, figures = [], []
        else:
            pngs = _draw_pngs(view, out_dir, skipped)
            figures = _plotly_figures(view, skipped)
        board = build_leaderboard(view.trials, direction)
        written = [*pngs, _write_html(view, board, figures, skipped, out_dir / HTML, title)]
    written.append(write_csv(board, out_dir / LEADERBOARD_CSV))
    written.append(write_markdown(board, out_dir / LEADERBOARD_MD, title=title, metric=metric, direction=direction))
    (out_dir / SKIPPED).write_text("".join(f"{name}: {reason}\n" for name, reason in skipped.items()),
                                   encoding="utf-8")
    written.append(out_dir / SKIPPED)
    for name in set(REPORT_FILES) - {p.name for p in written}:
        (out_dir / name).unlink(missing_ok=True)
    return written


def _remove_stale(client: Any, run_id: str, keep: set[str]) -> None:
    """Delete artifacts under ``study/`` that the new report no longer has (best effort)."""
    try:
        old = {Path(a.path).name for a in client.list_artifacts(run_id, ARTIFACT_PATH) if not a.is_dir}
        stale = sorted(old - keep)
        if not stale:
            return
        from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

        repo = get_artifact_repository(client.get_run(run_id).info.artifact_uri, tracking_uri=client.tracking_uri)
        for name in stale:
            repo.delete_artifacts(f"{ARTIFACT_PATH}/{name}")
    except Exception:  # noqa: BLE001 - a store that cannot delete keeps the stale file; skipped.txt says why
        pass


def log_study_report(client: Any, run_id: str, optuna_study: Any, *, metric: str, direction: str,
                     tmp_dir: Path | str | None = None) -> list[str]:
    """Write the report in a temporary directory (under ``tmp_dir`` if given) and log it to ``study/``.

    The new files overwrite the previous version's; report files it no longer has are
    deleted where the artifact store allows. Returns the artifact paths logged.
    """
    with tempfile.TemporaryDirectory(prefix="tuneforge-study-", dir=tmp_dir) as tmp:
        out = Path(tmp) / ARTIFACT_PATH
        written = write_study_report(optuna_study, out, metric=metric, direction=direction)
        client.log_artifacts(run_id, str(out), artifact_path=ARTIFACT_PATH)
    _remove_stale(client, run_id, {p.name for p in written})
    return [f"{ARTIFACT_PATH}/{p.name}" for p in written]
