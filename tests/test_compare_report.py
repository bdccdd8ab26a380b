"""The comparison report tells the truth: curves end where strategies stopped, a zoom near the best,
no spread for one repeat, an 80-column table; an interrupted compare ends KILLED and resumes."""

from __future__ import annotations

import csv
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests._studies import write_study
from tests.conftest import ROOT

# --- the report, from real StrategyRun records ----------------------------------------------------


def _run(strategy: str, bests: list[float], seconds: float, *, repeat: int = 0, test: float = math.nan):
    from search.comparison._evaluate import Evaluation
    from search.comparison._strategies import Point, StrategyRun

    n = len(bests)
    timeline = [Point(fits=i + 1, epochs=20 * (i + 1), seconds=seconds * (i + 1) / n, best=b)
                for i, b in enumerate(bests)]
    best = Evaluation({"units": 8}, -bests[-1], bests[-1], [-bests[-1]], seconds, 20)
    return StrategyRun(strategy, repeat, 42 + repeat, "minimize", timeline=timeline, search_seconds=seconds,
                       test_value=test, best=best)


def _boston_like() -> list:
    """grid: 54 fits and 370 s, down to 15.4; tpe: stopped at 20 fits and 96 s, at 14.8."""
    grid = [600.0 * math.exp(-i / 3) + 15.4 for i in range(54)]
    tpe = [600.0 * math.exp(-i / 2) + 14.8 for i in range(20)]
    return [_run("grid", grid, 370.0, test=16.1), _run("tpe", tpe, 96.0, test=15.2)]


def test_each_curve_ends_at_its_own_last_fit_and_second() -> None:
    from search.comparison._curves import curves

    runs = _boston_like()
    by_fits, by_seconds = curves(runs, "fits"), curves(runs, "seconds")
    assert by_fits["grid"][0][-1] == 54 and by_fits["tpe"][0][-1] == 20
    assert by_seconds["grid"][0][-1] == pytest.approx(370.0) and by_seconds["tpe"][0][-1] == pytest.approx(96.0)
    assert by_fits["tpe"][1][-1] == pytest.approx(runs[1].timeline[-1].best)


def test_the_zoom_shows_where_strategies_differ() -> None:
    from search.comparison._figure import zoom_limits

    low, high = zoom_limits([15.4, 14.8], "minimize", grid=15.4)
    assert low < 14.8 < 15.4 < high < 16.5  # the gap 14.8 vs 15.4 fills the panel, not 600 to 15
    low, high = zoom_limits([0.97, 0.97], "maximize")
    assert low < 0.97 < high and high - low < 0.1


def test_report_with_one_repeat_shows_no_spread_and_puts_test_and_budget_on_the_figure(tmp_path: Path) -> None:
    from search.comparison._report import HTML, PNG, Context, summary_rows, write_report

    runs = _boston_like()
    ctx = Context("boston-grid", "val_loss", "mse", "minimize", "fits:20", 2, 2, 54)
    write_report(runs, ctx, tmp_path)
    assert (tmp_path / PNG).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = (tmp_path / HTML).read_text()
    assert "\"fill\":\"tonexty\"" not in page  # no band: one repeat has no spread
    assert "tpe: test 15.2, 20 fits, 96 s" in page and "grid: test 16.1, 54 fits, 370 s" in page
    rows = summary_rows(runs)
    assert all(math.isnan(r["best_validation_sd"]) for r in rows)
    with (tmp_path / "summary.csv").open() as f:
        assert all(row["best_validation_sd"] == "" for row in csv.DictReader(f))  # not "0.0000"
    two = [*runs, _run("tpe", [600.0, 20.0, 14.0], 50.0, repeat=1, test=15.0)]
    write_report(two, ctx, tmp_path)
    assert "\"fill\":\"tonexty\"" in (tmp_path / HTML).read_text()  # two repeats of tpe: a band


def test_the_summary_table_fits_80_columns() -> None:
    from rich.console import Console

    from search.cli._compare import summary_table
    from search.comparison._report import summary_rows

    runs = [*_boston_like(), _run("kt-hyperband", [700.0, 123.456789, 15.123456], 1234.5, test=15.98765)]
    runs += [_run(r.strategy, [b * 1.01 for b in (p.best for p in r.timeline)], r.search_seconds, repeat=1,
                  test=r.test_value) for r in list(runs)]
    console = Console(width=80, record=True, file=open(os.devnull, "w"))
    console.print(summary_table(summary_rows(runs), "val_loss", "mse"))
    text = console.export_text()
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "…" not in text and "kt-hyperband" in text and "±" in text


# --- a real compare, interrupted with SIGTERM, then resumed ------------------------------------------


def _env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env["TUNEFORGE_HOME"] = str(tmp / "home")
    return env


def _lines(path: Path) -> int:
    return path.read_text().count("\n") if path.exists() else 0


def _parents(uri: str, experiment: str) -> list:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name(experiment)
    runs = client.search_runs([exp.experiment_id], max_results=100, order_by=["attributes.start_time ASC"])
    return [r for r in runs if r.data.tags.get("tuneforge.role") == "comparison"]


@pytest.mark.slow
def test_interrupted_compare_ends_killed_writes_a_partial_report_and_resumes(tmp_path: Path) -> None:
    study = write_study(
        tmp_path, "resume",
        space={"units": {"type": "categorical", "choices": [8, 16]},
               "learning_rate": {"type": "float", "low": 3e-3, "high": 3e-2, "log": True, "grid": [0.01, 0.02]}},
        fixed={"n_layers": 1, "epochs": 2, "batch_size": 64, "patience": 0}, grid={"points": 2},
        search={"workers": 1, "seed": 7})
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    report = tmp_path / "report"
    args = [sys.executable, "-m", "search.cli", "compare", str(study), "--strategies", "grid,random",
            "--repeats", "1", "--budget", "fits:8", "--workers", "1", "--report-dir", str(report),
            "--tracking-uri", uri]
    log = (tmp_path / "first.log").open("w")
    proc = subprocess.Popen(args, cwd=ROOT, env=_env(tmp_path), stdout=log, stderr=subprocess.STDOUT)
    grid_log, random_log = report / "fits" / "grid-r0.jsonl", report / "fits" / "random-r0.jsonl"
    try:
        end = time.monotonic() + 400
        while _lines(random_log) < 1:  # the grid has finished, random is fitting
            assert proc.poll() is None, (tmp_path / "first.log").read_text()[-3000:]
            assert time.monotonic() < end, "random never started"
            time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    first = (tmp_path / "first.log").read_text()
    assert code == 130, first[-3000:]
    assert "Traceback" not in first
    assert "random (repeat 1/1): " in first and "fits" in first  # progress lines in a non-terminal log
    (killed,) = _parents(uri, "resume")
    assert killed.info.status == "KILLED"
    with (report / "summary.csv").open() as f:
        assert [r["strategy"] for r in csv.DictReader(f)] == ["grid"]  # the partial report
    grid_fits = grid_log.read_text()
    assert _lines(grid_log) == 4

    second = subprocess.run(args, cwd=ROOT, env=_env(tmp_path), capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stderr[-3000:]
    assert grid_log.read_text() == grid_fits  # the grid's fits were not refit
    assert _lines(random_log) == 8
    parents = _parents(uri, "resume")
    assert [p.info.status for p in parents] == ["KILLED", "FINISHED"]
    with (report / "runs.csv").open() as f:
        rows = {r["strategy"]: r for r in csv.DictReader(f)}
    assert "resumed" in rows["grid"]["note"] and "resumed" not in rows["random"]["note"]
    saved = json.loads((report / "finished" / "grid-r0.json").read_text())
    assert float(rows["grid"]["best_validation"]) == pytest.approx(saved["run"]["best"]["value"])
