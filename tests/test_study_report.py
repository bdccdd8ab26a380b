"""tracking.plots: the per-study report (PNGs, one offline HTML page, leaderboard) and its MLflow logging.

Studies are real in-memory Optuna studies filled with ask/report/tell and synthetic
learning curves (no training): per-layer (``units_0..``) and conditional (``momentum``
only for sgd) parameters from the project's own space compiler, pruned trials, a failed
one, and the ``config``/``epochs``/``n_params``/``seconds``/``worker`` attrs a worker sets.
"""

from __future__ import annotations

import csv
import json
import math
import random
import re
import shutil
from pathlib import Path

import optuna
import pytest

import spaces
from tracking.plots import REPORT_FILES, log_study_report, write_study_report
from tracking.plots import _html, _study
from tracking.plots._leaderboard import FIXED_COLUMNS, build_leaderboard

METRIC = "val_accuracy"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
PNGS = ["optimization_history.png", "intermediate_values.png", "parallel_coordinate.png",
        "param_importances.png", "slice.png"]
OTHERS = ["study_report.html", "leaderboard.csv", "leaderboard.md", "skipped.txt"]
CONFIG_COLUMNS = ["n_layers", "units_0", "units_1", "units_2", "activation", "learning_rate", "optimizer",
                  "momentum", "batch_size", "config.epochs", "patience"]

SPACE = spaces.SearchSpace(
    spaces.Int("n_layers", 1, 3),
    spaces.Int("units", 16, 256, log=True, per_layer="n_layers"),
    spaces.Categorical("activation", ["relu", "tanh"]),
    spaces.Float("learning_rate", 1e-4, 3e-2, log=True),
    spaces.Categorical("optimizer", ["adam", "sgd"]),
    spaces.Float("momentum", 0.0, 0.95, when={"optimizer": "sgd"}),
    spaces.Categorical("batch_size", [32, 64, 128]),
    spaces.Fixed("epochs", 6),
    spaces.Fixed("patience", 2),
)


def synthetic_study(n: int, *, direction: str = "maximize", seed: int = 0, epochs: int = 6,
                    fail: tuple[int, ...] = (5,), prune_every: int = 4) -> optuna.Study:
    """``n`` trials: ``fail`` ones FAIL, every ``prune_every``-th pruned at epoch 2, the rest COMPLETE."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(study_name=f"synthetic-{direction}", direction=direction,
                                sampler=optuna.samplers.RandomSampler(seed=seed))
    suggest = spaces.to_optuna(SPACE)
    rng = random.Random(seed)
    for i in range(n):
        trial = study.ask()
        config = suggest(trial)
        trial.set_user_attr("worker", f"w{i % 2}")
        trial.set_user_attr("config", json.dumps(config))
        if i in fail:
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
            continue
        final = 0.6 + 0.3 * math.exp(-abs(math.log10(config["learning_rate"]) + 2.5)) + 0.02 * config["n_layers"]
        pruned = i % prune_every == prune_every - 1
        last = 2 if pruned else epochs - 1
        for epoch in range(last + 1):
            value = final * (1 - math.exp(-(epoch + 1) / 2)) + rng.gauss(0, 0.004)
            trial.report(value if direction == "maximize" else 1 - value, epoch)
        trial.set_user_attr("epochs", last + 1)
        trial.set_user_attr("n_params", 1000 * config["n_layers"] + config["units_0"])
        trial.set_user_attr("seconds", round(rng.uniform(1, 9), 3))
        if pruned:
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        else:
            study.tell(trial, value if direction == "maximize" else 1 - value)
    return study


def skipped(out: Path) -> dict[str, str]:
    lines = (out / "skipped.txt").read_text().splitlines()
    return dict(line.split(": ", 1) for line in lines)


def read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        return list(reader.fieldnames or []), list(reader)


def assert_png(path: Path) -> None:
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC, path
    assert len(data) > 5000, path


def small_study(n: int = 4) -> optuna.Study:
    """One parameter, curves reported: every plot can be drawn, cheaply."""
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=2))
    for _ in range(n):
        trial = study.ask()
        lr = trial.suggest_float("lr", 1e-4, 1e-1, log=True)
        for epoch in range(3):
            trial.report(lr * (epoch + 1), epoch)
        study.tell(trial, lr * 3)
    return study


@pytest.fixture(scope="module")
def study() -> optuna.Study:
    """18 finished trials (13 complete, 4 pruned, 1 failed), then one running and one waiting."""
    study = synthetic_study(18)
    running = study.ask()
    running.suggest_float("learning_rate", 1e-4, 3e-2, log=True)
    running.set_user_attr("worker", "w0")
    running.report(0.5, 0)
    study.enqueue_trial({"learning_rate": 1e-3})
    return study


@pytest.fixture(scope="module")
def report(study, tmp_path_factory) -> tuple[Path, list[Path]]:
    import matplotlib.pyplot as plt

    out = tmp_path_factory.mktemp("report")
    backend = ("backend", "backend_fallback")  # the report selects Agg, like tracking.plots._trial
    before = {k: v for k, v in plt.rcParams.items() if k not in backend}
    paths = write_study_report(study, out, metric=METRIC, direction="maximize")
    after = {k: v for k, v in plt.rcParams.items() if k not in backend}
    # Optuna's plots switch pyplot to the ggplot style; the report must undo that and close its figures
    assert after == before and plt.get_fignums() == []
    return out, paths


# --- the full report ---------------------------------------------------------------------

def test_full_report_writes_every_file(report):
    out, paths = report
    assert [p.name for p in paths] == PNGS + OTHERS
    assert set(REPORT_FILES) == {p.name for p in paths}
    assert all(p.parent == out and p.stat().st_size > 0 for p in paths if p.name != "skipped.txt")
    for name in PNGS:
        assert_png(out / name)
    assert skipped(out) == {}


def test_html_is_one_offline_page_with_every_figure(report):
    from plotly.offline import get_plotlyjs

    page = (report[0] / "study_report.html").read_text()
    assert page.count(get_plotlyjs()[:300]) == 1  # plotly.js embedded, once
    tags = re.findall(r"<script\b[^>]*>", page, flags=re.IGNORECASE)
    assert tags and not [t for t in tags if "src" in t.lower()]  # nothing loaded from a CDN (no network)
    assert not re.search(r"""<(?:link|img|iframe)\b[^>]*(?:href|src)\s*=\s*["']?https?:""", page, re.IGNORECASE)
    assert page.count("Plotly.newPlot(") == 7
    for title in ("Optimization history", "Learning curves", "Parallel coordinates", "Hyperparameter importances",
                  "Slice", "Contour of the most important parameters", "Timeline", "Leaderboard"):
        assert f"<h2>{title}</h2>" in page


def test_leaderboard_csv_ranks_complete_then_pruned_then_failed(study, report):
    columns, rows = read_csv(report[0] / "leaderboard.csv")
    assert columns == [*FIXED_COLUMNS, *CONFIG_COLUMNS]
    assert len(rows) == len(study.trials) == 20
    states = [r["state"] for r in rows]
    n_complete, n_pruned = states.count("COMPLETE"), states.count("PRUNED")
    assert (n_complete, n_pruned, states.count("FAIL")) == (13, 4, 1)
    assert states == ["COMPLETE"] * n_complete + ["PRUNED"] * n_pruned + ["FAIL", "RUNNING", "WAITING"]
    complete = rows[:n_complete]
    assert [r["rank"] for r in complete] == [str(i) for i in range(1, n_complete + 1)]
    assert all(r["rank"] == "" for r in rows[n_complete:])
    objectives = [float(r["objective"]) for r in complete]
    assert objectives == sorted(objectives, reverse=True)
    assert float(complete[0]["objective"]) == study.best_value and int(complete[0]["trial"]) == study.best_trial.number
    pruned = [float(r["objective"]) for r in rows[n_complete:n_complete + n_pruned]]
    assert pruned == sorted(pruned, reverse=True)  # the value each was pruned at
    by_number = {t.number: t for t in study.trials}
    for row in rows:
        trial = by_number[int(row["trial"])]
        if row["state"] in ("RUNNING", "WAITING"):  # no config attr yet: the params so far
            assert (row["learning_rate"] != "") == (row["state"] == "RUNNING")
            assert row["n_layers"] == row["objective"] == row["rank"] == ""
            continue
        config = json.loads(trial.user_attrs["config"])
        assert row["worker"] == trial.user_attrs["worker"]
        assert (row["momentum"] != "") == (config["optimizer"] == "sgd")
        assert [row[f"units_{i}"] != "" for i in range(3)] == [i < config["n_layers"] for i in range(3)]
        assert row["config.epochs"] == "6" and row["patience"] == "2"
        if row["state"] == "FAIL":
            assert row["objective"] == row["epochs"] == row["n_params"] == row["seconds"] == ""
        else:
            assert int(row["epochs"]) == trial.user_attrs["epochs"] and row["seconds"] != ""


def test_leaderboard_markdown_matches_csv(report):
    lines = (report[0] / "leaderboard.md").read_text().splitlines()
    table = [line for line in lines if line.startswith("|")]
    assert table[0] == "| " + " | ".join([*FIXED_COLUMNS, *CONFIG_COLUMNS]) + " |"
    assert len(table) == 2 + 20
    assert table[2].startswith("| 1 | ") and "COMPLETE" in table[2] and "WAITING" in table[-1]


def test_minimize_ranks_ascending():
    board = build_leaderboard(synthetic_study(10, direction="minimize").trials, "minimize")
    complete = [r["objective"] for r in board.rows if r["state"] == "COMPLETE"]
    assert complete == sorted(complete) and board.rows[0]["rank"] == 1


def test_learning_curves_show_pruned_trials_apart(study):
    import matplotlib.pyplot as plt
    from matplotlib.colors import to_hex
    from optuna import visualization as ov

    import matplotlib

    pruned = {t.number for t in study.trials if t.state.name == "PRUNED"}
    running = next(t.number for t in study.trials if t.state.name == "RUNNING")
    with _study._quiet(), matplotlib.rc_context():
        view = _study._read(study, METRIC, "maximize")
        ax = _study._png_intermediate(view)
        fig = _html._restyle_plotly_curves(ov.plot_intermediate_values(view.study), view)
    try:
        lines = {int(l.get_label()[5:]): l for l in ax.get_lines() if l.get_label().startswith("Trial")}
        assert pruned and pruned <= set(lines)  # Optuna draws pruned trials; FAIL ones have no curve
        for number, line in lines.items():
            if number in pruned:
                assert to_hex(line.get_color()) == _study.PRUNED_COLOR and line.get_linestyle() == "--"
            elif number == view.best.number:
                assert to_hex(line.get_color()) == _study.BEST_COLOR
            elif number == running:
                assert to_hex(line.get_color()) == _study.RUNNING_COLOR and line.get_linestyle() == ":"
            else:
                assert to_hex(line.get_color()) == _study.COMPLETE_COLOR
        legend = [t.get_text() for t in ax.get_legend().get_texts()]
        assert legend == [f"best (trial {view.best.number})", "complete (13)", "pruned (4)", "running (1)"]
    finally:
        plt.close(ax.get_figure())
    groups = {trace.legendgroup for trace in fig.data}
    assert groups == {"best", "complete", "pruned", "running"} and fig.layout.showlegend
    assert all(trace.line.dash == "dash" for trace in fig.data if trace.legendgroup == "pruned")


def test_report_is_reproducible(study, report, tmp_path):
    write_study_report(study, tmp_path, metric=METRIC, direction="maximize")
    for name in [*PNGS, "study_report.html", "leaderboard.csv"]:
        assert (tmp_path / name).read_bytes() == (report[0] / name).read_bytes(), name


# --- small and odd studies ---------------------------------------------------------------

def test_empty_study_writes_what_it_can(tmp_path):
    paths = write_study_report(optuna.create_study(), tmp_path, metric="val_loss", direction="minimize")
    assert [p.name for p in paths] == OTHERS
    reasons = skipped(tmp_path)
    assert set(PNGS) <= set(reasons) and reasons["optimization_history.png"] == "no complete trial"
    assert read_csv(tmp_path / "leaderboard.csv") == (list(FIXED_COLUMNS), [])
    assert "Plotly.newPlot(" not in (tmp_path / "study_report.html").read_text()


def test_one_complete_trial(tmp_path):
    study = optuna.create_study(direction="maximize")
    trial = study.ask()
    trial.suggest_float("x", 0, 1)
    trial.report(0.4, 0)
    study.tell(trial, 0.5)
    paths = write_study_report(study, tmp_path, metric=METRIC, direction="maximize")
    assert [p.name for p in paths] == [n for n in PNGS if n != "param_importances.png"] + OTHERS
    assert "at least 2 complete trials" in skipped(tmp_path)["param_importances.png"]
    for name in PNGS[:3]:
        assert_png(tmp_path / name)
    assert read_csv(tmp_path / "leaderboard.csv")[1][0]["rank"] == "1"


def test_no_intermediate_values_and_one_parameter(tmp_path):
    study = optuna.create_study(direction="minimize", sampler=optuna.samplers.RandomSampler(seed=1))
    study.optimize(lambda t: (t.suggest_float("lr", 1e-4, 1e-1, log=True) - 0.01) ** 2, n_trials=6)
    paths = write_study_report(study, tmp_path, metric="val_loss", direction="minimize")
    names = [p.name for p in paths]
    assert "intermediate_values.png" not in names and "param_importances.png" in names
    assert "intermediate values" in skipped(tmp_path)["intermediate_values.png"]
    assert read_csv(tmp_path / "leaderboard.csv")[0] == [*FIXED_COLUMNS, "lr"]  # no config attr: its params


def test_single_valued_parameter_skips_importances(tmp_path):
    study = optuna.create_study(direction="maximize")
    for i in range(4):
        trial = study.ask()
        trial.suggest_categorical("optimizer", ["adam"])
        study.tell(trial, 0.1 * i)
    paths = write_study_report(study, tmp_path, metric=METRIC, direction="maximize")
    assert "param_importances.png" not in [p.name for p in paths]
    assert "zero" in skipped(tmp_path)["param_importances.png"]
    assert_png(tmp_path / "slice.png")


def test_only_pruned_and_failed_trials(tmp_path):
    study = synthetic_study(4, fail=(0,), prune_every=1)  # trial 0 fails, the others are pruned
    paths = write_study_report(study, tmp_path, metric=METRIC, direction="maximize")
    names = [p.name for p in paths]
    assert "intermediate_values.png" in names and "optimization_history.png" not in names
    _, rows = read_csv(tmp_path / "leaderboard.csv")
    assert [r["state"] for r in rows] == ["PRUNED"] * 3 + ["FAIL"] and all(r["rank"] == "" for r in rows)


def test_multi_objective_study_does_not_raise(tmp_path):
    study = optuna.create_study(directions=["maximize", "minimize"])
    study.optimize(lambda t: (t.suggest_float("x", 0, 1), t.suggest_float("y", 0, 1)), n_trials=3)
    paths = write_study_report(study, tmp_path, metric=METRIC, direction="maximize")
    assert [p.name for p in paths] == OTHERS
    assert len(read_csv(tmp_path / "leaderboard.csv")[1]) == 3


def test_direction_is_checked(tmp_path):
    with pytest.raises(ValueError, match="direction"):
        write_study_report(optuna.create_study(), tmp_path, metric=METRIC, direction="max")


def test_rewrite_removes_stale_report_files_only(report, tmp_path):
    shutil.copytree(report[0], tmp_path, dirs_exist_ok=True)
    (tmp_path / "notes.txt").write_text("mine")
    write_study_report(optuna.create_study(), tmp_path, metric=METRIC, direction="maximize")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*OTHERS, "notes.txt"])


# --- MLflow ------------------------------------------------------------------------------

def test_log_study_report_replaces_the_previous_version(tmp_path):
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = client.create_experiment("report", artifact_location=(tmp_path / "artifacts").as_uri())
    run_id = client.create_run(experiment).info.run_id

    logged = log_study_report(client, run_id, small_study(), metric=METRIC, direction="maximize", tmp_dir=tmp_path)
    assert logged == [f"study/{name}" for name in PNGS + OTHERS]
    listed = {a.path for a in client.list_artifacts(run_id, "study")}
    assert listed == set(logged)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith("tuneforge-study-")] == []  # temp dir removed

    small = optuna.create_study(direction="maximize")
    log_study_report(client, run_id, small, metric=METRIC, direction="maximize")
    listed = {a.path for a in client.list_artifacts(run_id, "study")}
    assert listed == {f"study/{name}" for name in OTHERS}  # the PNGs it could not draw are gone
    local = Path(client.download_artifacts(run_id, "study/skipped.txt", str(tmp_path)))
    assert "optimization_history.png: no complete trial" in local.read_text()
