"""The course's names and a study file's every error, through ``tuneforge validate`` as a user runs it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from search.spec import load_study, study_from_dict
from spaces import TuneforgeError
from tests.conftest import STUDIES

COURSE = STUDIES / "course_grid.yaml"


def test_validate_accepts_the_course_names_and_shows_them_normalised(cli) -> None:
    result = cli("validate", str(COURSE))
    assert result.code == 0, result.stderr
    out = " ".join(result.stdout.split())
    assert "n_hidden -> n_layers" in out and "n_neurons -> units" in out and "lr -> learning_rate" in out
    assert "grid 27 configs" in out
    table = result.stdout.split("course-grid", 1)[1]
    assert "n_layers" in table and "n_hidden" not in table


def test_course_names_mean_the_course_model() -> None:
    study = load_study(COURSE)
    assert [p.name for p in study.space if p.kind != "fixed"] == ["n_layers", "units", "learning_rate"]
    assert all(not p.per_layer for p in study.space)  # n_neurons: one width shared by every layer
    assert study.aliases == (("n_hidden", "n_layers"), ("n_neurons", "units"), ("lr", "learning_rate"))


def test_prefixed_names_and_references_follow_the_rename() -> None:
    study = study_from_dict({"name": "p", "space": {
        "model__n_hidden": {"type": "int", "low": 1, "high": 2},
        "model__n_neurons": {"type": "int", "low": 4, "high": 8, "per_layer": "n_hidden"},
        "model__lr": {"type": "float", "low": 0.001, "high": 0.1}}})
    assert study.space["units"].per_layer == "n_layers"


def test_an_alias_and_its_name_together_are_refused() -> None:
    with pytest.raises(TuneforgeError, match="'lr' and 'learning_rate' both mean 'learning_rate'.*keep one"):
        study_from_dict({"name": "p", "space": {"lr": {"type": "float", "low": 0.001, "high": 0.1},
                                                "learning_rate": {"type": "float", "low": 0.001, "high": 0.1}}})


def write(folder: Path, data: dict) -> Path:
    path = folder / f"{data['name']}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_three_independent_errors_give_three_lines(cli, tmp_path: Path) -> None:
    path = write(tmp_path, {
        "name": "three",
        "data": {"dataset": "wine", "test": 1.5},
        "space": {"n_hidden": {"type": "int", "low": 1, "high": 3}, "colour": {"type": "int", "low": 1, "high": 2}},
        "search": {"trials": 0},
    })
    result = cli("validate", str(path))
    assert result.code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 3, result.stderr
    assert all(line.startswith(f"error: {path}:") for line in lines)
    joined = "\n".join(lines)
    assert "data.test" in joined and "search.trials" in joined and "space.colour" in joined
    assert "Traceback" not in result.stderr


def test_three_errors_after_the_schema_passes(cli, tmp_path: Path) -> None:
    path = write(tmp_path, {
        "name": "three-rules",
        "space": {"lr": {"type": "float", "low": 0.0, "high": 0.1}, "colour": {"type": "int", "low": 1, "high": 2}},
        "objective": {"metric": "accuracy"},
    })
    result = cli("validate", str(path))
    assert result.code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 3, result.stderr
    assert ":5: space.learning_rate.low" in lines[0]  # the line of `low: 0.0` under `lr:`
    assert "space.colour" in lines[1] and "objective.metric" in lines[2]


def test_pruner_on_keras_tuner_is_refused_with_the_reason(cli, tmp_path: Path) -> None:
    path = write(tmp_path, {"name": "kt", "space": {"units": {"type": "int", "low": 4, "high": 8}},
                            "search": {"engine": "keras_tuner", "algorithm": "bayesian", "pruner": "median"}})
    result = cli("validate", str(path))
    assert result.code == 2
    assert "search.pruner" in result.stderr and "nothing would ever be pruned" in result.stderr
    ok = write(tmp_path, {"name": "kt-ok", "space": {"units": {"type": "int", "low": 4, "high": 8}},
                          "search": {"engine": "keras_tuner", "algorithm": "bayesian"}})
    assert cli("validate", str(ok)).code == 0
    assert load_study(ok).spec.search.pruner == "none"


def test_validate_checks_the_csv_itself(cli, tmp_path: Path) -> None:
    (tmp_path / "flowers.csv").write_text("a,b,species\n" + "".join(
        f"{i},{i * 2},{'xy'[i % 2]}\n" for i in range(60)))
    bad = write(tmp_path, {"name": "csv-bad", "data": {"dataset": {"csv": "flowers.csv", "target": "kind"}},
                           "space": {"units": {"type": "int", "low": 4, "high": 8}}})
    result = cli("validate", str(bad))
    assert result.code == 2
    assert "no target column 'kind'" in result.stderr and "species" in result.stderr
    good = write(tmp_path, {"name": "csv-good", "data": {"dataset": {"csv": "flowers.csv", "target": "species"}},
                            "space": {"units": {"type": "int", "low": 4, "high": 8}}})
    result = cli("validate", str(good))
    assert result.code == 0, result.stderr
    out = " ".join(result.stdout.split())
    assert "only 10 rows" in out and "validation: {folds: 5}" in out  # 60 rows: 12 test, 10 of 48 validate


@pytest.mark.slow
def test_compare_runs_the_course_grid_as_gridsearchcv(cli, tmp_path: Path) -> None:
    """The course's study file, shrunk (2x2x1 grid, 2 epochs), run as the course's GridSearchCV(cv=2)."""
    course = yaml.safe_load(COURSE.read_text())
    course["name"] = "course-small"
    course["space"] = {"n_hidden": {"type": "int", "low": 1, "high": 2, "grid": [1, 2]},
                       "n_neurons": {"type": "int", "low": 8, "high": 16, "grid": [8, 16]},
                       "lr": {"type": "float", "low": 1e-3, "high": 1e-2, "log": True, "grid": [1e-2]}}
    course["fixed"] = {"epochs": 2, "batch_size": 64, "patience": 0}
    course["tracking"] = {"experiment": "course-small"}
    path = write(tmp_path, course)
    report = tmp_path / "report"
    result = cli("compare", str(path), "--strategies", "grid", "--repeats", "1", "--workers", "1",
                 "--report-dir", str(report), "--tracking-uri", f"sqlite:///{tmp_path / 'mlflow.db'}",
                 env={"TUNEFORGE_HOME": str(tmp_path / "home")})
    assert result.code == 0, result.stderr[-3000:]
    assert "grid 4 configs x 2 split(s) = 8 fits" in " ".join(result.stderr.split())
    assert (report / "fits" / "grid-r0.jsonl").read_text().count("\n") == 8  # 4 configs x cv=2
    import csv

    with (report / "runs.csv").open() as f:
        (row,) = list(csv.DictReader(f))
    assert row["strategy"] == "grid" and float(row["best_validation"]) > 0  # an MSE
    best = json.loads(row["best_config"])
    assert set(best) >= {"n_layers", "units", "learning_rate"} and best["units"] in (8, 16)
