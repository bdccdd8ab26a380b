"""``tuneforge compare``: fairness against GridSearchCV, one real comparison, bad input.

Real parts only: scikit-learn's GridSearchCV over the scikeras estimator, real Keras
fits on digits (2 epochs, 8-16 units), joblib worker processes, a SQLite MLflow store.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from tests._studies import write_study

TINY_FIXED = {"epochs": 2, "batch_size": 64, "patience": 0}


# --- fairness: the same config scores the same in GridSearchCV and in every other strategy ------------

@pytest.mark.slow
def test_a_config_scores_identically_in_gridsearchcv_and_in_evaluate_configs_on_cv_folds():
    """GridSearchCV(cv=the study's 2 folds) and evaluate_configs give one config the identical score.

    The holdout case runs through the real CLI with 2 worker processes:
    test_random_scores_each_grid_config_exactly_as_gridsearchcv_did.
    """
    from sklearn.model_selection import GridSearchCV

    from search.comparison._estimator import make_estimator
    from search.comparison._evaluate import Setup, evaluate_configs, scoring_for
    from search.data import dataset_for
    from search.spec import study_from_dict
    from spaces import iter_grid, to_param_grid

    study = study_from_dict({
        "name": "fair", "data": {"dataset": "digits", "validation": {"folds": 2}, "test": 0.2, "seed": 3},
        "space": {"units": {"type": "int", "low": 8, "high": 16, "grid": [8, 16]}},
        "fixed": {"n_layers": 1, **TINY_FIXED},
    })
    data = dataset_for(study)
    estimator = make_estimator(space=study.space, task=study.task, model_kind="mlp", seed=11,
                               standardize=data.info.standardize)
    setup = Setup(estimator, data.x_pool, data.y_pool, data.test_fold, data.x_test, data.y_test,
                  scoring_for(study.task, study.metric, study.direction), workers=1)
    grid = GridSearchCV(estimator, to_param_grid(study.space, points=2), cv=setup.cv(), scoring=setup.scorer(),
                        n_jobs=1, refit=False)
    grid.fit(data.x_pool, data.y_pool)
    folds = 2
    assert grid.n_splits_ == folds == setup.folds

    # the second grid point, scored after other models were trained in this process
    config = list(iter_grid(study.space, points=2))[1]
    assert config["units"] == 16
    (evaluation,) = evaluate_configs(setup, [config])
    assert grid.cv_results_["params"][1]["model__units"] == 16
    assert evaluation.score == grid.cv_results_["mean_test_score"][1]
    assert evaluation.fold_scores == [grid.cv_results_[f"split{j}_test_score"][1] for j in range(folds)]
    assert 0.0 < evaluation.value < 1.0  # an accuracy, not a constant


# --- one real comparison: 2x2 grid, 2 epochs, digits, 2 workers ---------------------------------------

@pytest.fixture(scope="module")
def comparison(tmp_path_factory):
    from tests.conftest import run_cli

    tmp = tmp_path_factory.mktemp("compare")
    study = write_study(
        tmp, "cmp",
        space={"n_layers": {"type": "int", "low": 1, "high": 2},
               "units": {"type": "categorical", "choices": [8, 16]}},  # one width for all layers: a 2x2 grid
        fixed=dict(TINY_FIXED), grid={"points": 2}, search={"workers": 2, "seed": 7},
    )
    uri = f"sqlite:///{tmp / 'mlflow.db'}"
    report = tmp / "report"
    result = run_cli("compare", str(study), "--strategies", "grid,random", "--repeats", "2", "--workers", "2",
                     "--report-dir", str(report), "--tracking-uri", uri, env={"TUNEFORGE_HOME": str(tmp / "home")})
    return result, report, uri, tmp


def _rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        return list(reader.fieldnames or []), list(reader)


@pytest.mark.slow
def test_compare_writes_the_report_files_and_table(comparison):
    from search.comparison._report import COLUMNS, REPORT_FILES, RUN_COLUMNS

    result, report, _, _ = comparison
    assert result.code == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    for name in REPORT_FILES:
        assert (report / name).stat().st_size > 0, name
    assert (report / "best_so_far.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = (report / "compare_report.html").read_text()
    assert "Plotly.newPlot" in page and "<script src=" not in page  # plotly.js inline: works offline
    columns, rows = _rows(report / "summary.csv")
    assert tuple(columns) == COLUMNS
    assert [r["strategy"] for r in rows] == ["grid", "random"]
    grid, random = rows
    assert grid["repeats"] == random["repeats"] == "2"
    assert grid["reached_grid_best"] == "2/2"
    assert float(grid["fits"]) == float(random["fits"]) == 4.0  # budget-matched: 4 configs x 1 holdout
    assert 0.0 < float(grid["best_validation"]) <= 1.0 and 0.0 < float(grid["test_score"]) <= 1.0
    md = (report / "summary.md").read_text()
    assert "| " + " | ".join(COLUMNS) + " |" in md
    run_columns, runs = _rows(report / "runs.csv")
    assert tuple(run_columns) == RUN_COLUMNS
    assert sorted((r["strategy"], r["repeat"]) for r in runs) == [("grid", "0"), ("grid", "1"), ("random", "0"),
                                                                   ("random", "1")]
    assert sorted(p.name for p in (report / "fits").iterdir()) == ["grid-r0.jsonl", "grid-r1.jsonl",
                                                                     "random-r0.jsonl", "random-r1.jsonl"]


@pytest.mark.slow
def test_compare_logs_one_parent_and_a_nested_run_per_strategy_and_repeat(comparison):
    from mlflow import MlflowClient

    result, _, uri, _ = comparison
    assert result.code == 0, result.stderr[-3000:]
    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("cmp")
    runs = client.search_runs([experiment.experiment_id], max_results=100)
    parents = [r for r in runs if r.data.tags.get("tuneforge.role") == "comparison"]
    assert len(parents) == 1
    parent = parents[0]
    assert parent.info.status == "FINISHED"
    assert parent.data.params["strategies"] == "grid,random" and parent.data.params["budget"] == "fits:4"
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert len(children) == len(runs) - 1 == 4
    assert sorted((c.data.tags["strategy"], c.data.tags["repeat"]) for c in children) == [
        ("grid", "0"), ("grid", "1"), ("random", "0"), ("random", "1")]
    for child in children:
        assert child.info.status == "FINISHED"
        assert child.data.metrics["fits"] == 4
        assert {"best_validation", "test_score", "total_seconds"} <= set(child.data.metrics)
        assert [a.path for a in client.list_artifacts(child.info.run_id)] == ["evaluations.csv",
                                                                            f"{child.data.tags['strategy']}-r"
                                                                            f"{child.data.tags['repeat']}.jsonl"]
        assert len(client.get_metric_history(child.info.run_id, "best_so_far")) >= 1
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id, "compare")}
    assert {"compare/summary.csv", "compare/compare_report.html", "compare/best_so_far.png"} <= artifacts
    assert {"grid.best_validation", "grid.test_score", "random.best_validation", "random.total_seconds"} \
        <= set(parent.data.metrics)


@pytest.mark.slow
def test_random_scores_each_grid_config_exactly_as_gridsearchcv_did(comparison):
    """Fairness on a holdout, across processes: in the real run (2 joblib workers) the 4 configs random
    proposes are the grid's 4 points, and each scores exactly what GridSearchCV gave it in the same repeat."""
    from mlflow import MlflowClient

    result, _, uri, tmp = comparison
    assert result.code == 0, result.stderr[-3000:]
    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("cmp")
    runs = client.search_runs([experiment.experiment_id], filter_string="tags.repeat = '0'")
    scores: dict[str, dict[str, float]] = {}
    for run in runs:
        path = client.download_artifacts(run.info.run_id, "evaluations.csv", str(tmp))
        with open(path, newline="") as f:
            scores[run.data.tags["strategy"]] = {
                json.dumps(json.loads(row["config"]), sort_keys=True): float(row["score"]) for row in csv.DictReader(f)
            }
    assert set(scores) == {"grid", "random"}
    assert len(scores["grid"]) == 4 and set(scores["random"]) == set(scores["grid"])
    assert scores["random"] == scores["grid"]
    assert len(set(scores["grid"].values())) > 1  # different configs really trained differently


# --- bad input: exit 2, one clear line, no traceback -------------------------------------------------

@pytest.fixture
def tiny_study(tmp_path):
    return write_study(tmp_path, "bad", fixed=dict(TINY_FIXED))


def _refused(result, *needles: str) -> None:
    assert result.code == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle in result.stderr, result.stderr


def test_unknown_strategy_is_refused(cli, tiny_study, tmp_path):
    result = cli("compare", str(tiny_study), "--strategies", "grid,tpee", env={"TUNEFORGE_HOME": str(tmp_path)})
    _refused(result, "--strategies", "unknown strategy 'tpee'", "did you mean 'tpe'?")


@pytest.mark.parametrize("budget, needle", [("fits:abc", "whole number"), ("minutes:3", "UNIT:AMOUNT")])
def test_bad_budget_is_refused(cli, tiny_study, tmp_path, budget, needle):
    result = cli("compare", str(tiny_study), "--budget", budget, env={"TUNEFORGE_HOME": str(tmp_path)})
    _refused(result, "--budget", needle, "fits:N")


def test_gp_without_pytorch_is_refused(cli, tiny_study, tmp_path):
    hidden = tmp_path / "no_torch" / "torch"
    hidden.mkdir(parents=True)
    (hidden / "__init__.py").write_text("raise ImportError('torch is hidden by this test')\n")
    result = cli("compare", str(tiny_study), "--strategies", "grid,gp",
                 env={"TUNEFORGE_HOME": str(tmp_path), "PYTHONPATH": str(hidden.parent)})
    _refused(result, "--strategies", "gp strategy needs PyTorch", "tuneforge[gp]")


def test_a_space_that_cannot_be_gridded_is_refused(cli, tmp_path):
    space = {name: {"type": "float", "low": 0.0, "high": 0.4} for name in ("dropout", "l1", "l2")}
    study = write_study(tmp_path, "huge", space=space, fixed=dict(TINY_FIXED), grid={"points": 20})
    result = cli("compare", str(study), env={"TUNEFORGE_HOME": str(tmp_path)})
    _refused(result, "space", "cannot be gridded", "8,000 configs")


@pytest.mark.parametrize(("values", "log"), [
    ([608.0, 150.0, 13.1], True),           # boston's MSE: 600 down to 13 hides the end on a linear axis
    ([0.91, 0.97, 0.9778], False),          # accuracies: a narrow range stays linear
    ([-576.3, -13.1], False),               # negative (scikit-learn's neg_ scores): never log
    ([0.0, 12.0], False),                   # a zero cannot go on a log axis
    ([float("nan"), 600.0, 10.0], True),    # NaN (before a strategy's first score) is ignored
    ([], False),
])
def test_the_report_uses_a_log_axis_only_for_positive_values_spanning_a_wide_range(values, log):
    from search.comparison._report import wants_log_scale

    assert wants_log_scale(values) is log


def test_a_wide_mse_range_draws_both_report_charts_on_a_log_axis(tmp_path):
    from search.comparison._report import HTML, PNG, Context, write_report
    from search.comparison._strategies import Point, StrategyRun

    def run(strategy: str, bests: list[float]) -> StrategyRun:
        timeline = [Point(fits=i + 1, epochs=20 * (i + 1), seconds=1.5 * (i + 1), best=b) for i, b in enumerate(bests)]
        return StrategyRun(strategy, 0, 42, "minimize", timeline=timeline, search_seconds=6.0)

    runs = [run("grid", [608.0, 150.0, 15.4, 15.4]), run("gp", [420.0, 13.1, 13.1, 12.9])]
    ctx = Context("boston", "val_loss", "mse", "minimize", "fits:4", 1, 2, 4)
    write_report(runs, ctx, tmp_path)
    assert (tmp_path / PNG).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = (tmp_path / HTML).read_text()
    assert page.count('"type":"log"') == 2 and "minimize, log scale" in page
