"""``search.run`` / ``search.compare`` from Python, as a notebook calls them: real workers, storage, MLflow."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import optuna
import pandas as pd
import psutil
import pytest

from search.storage import get_storage
from tests.conftest import ROOT

pytestmark = pytest.mark.slow


def wine_csv(folder: Path) -> Path:
    from sklearn.datasets import load_wine

    frame = load_wine(as_frame=True).frame
    path = folder / "wine.csv"
    frame.to_csv(path, index=False)
    return path


def test_import_search_is_cheap() -> None:
    code = ("import sys, search; search.run; callable(search.compare); "
            "print(sorted(m for m in ('tensorflow', 'optuna', 'mlflow', 'pandas') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "[]"


def test_run_a_dict_study_on_a_csv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import search

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TUNEFORGE_HOME", str(tmp_path / ".tuneforge"))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    csv = wine_csv(tmp_path)
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    result = search.run({
        "name": "wine-api",
        "data": {"dataset": {"csv": str(csv), "target": "target"}, "validation": 0.25, "test": 0.2, "seed": 1},
        "space": {"units": {"type": "int", "low": 4, "high": 32, "log": True},
                  "learning_rate": {"type": "float", "low": 3e-3, "high": 3e-2, "log": True}},
        "fixed": {"n_layers": 1, "epochs": 4, "batch_size": 32, "patience": 0},
        "search": {"pruner": "none", "seed": 3},
    }, trials=3, workers=1, storage=storage, export_dir=str(tmp_path / "model"), progress=False)

    frame = result.trials
    assert isinstance(frame, pd.DataFrame)
    assert list(frame.columns) == ["number", "state", "value", "params", "epochs"]
    assert len(frame) == 3 and list(frame["number"]) == [0, 1, 2]
    assert set(frame["state"]) == {"COMPLETE"} and all(frame["epochs"] == 4)
    assert {"units", "learning_rate"} <= set(frame["params"][0])

    stored = optuna.load_study(study_name="wine-api", storage=get_storage(storage))
    assert result.best is not None
    assert result.best.value == stored.best_value
    assert stored.trials[result.best.number].value == stored.best_value
    assert result.best.config["units"] == stored.trials[result.best.number].params["units"]
    assert set(result.test) >= {"accuracy", "loss"} and 0.0 <= result.test["accuracy"] <= 1.0
    assert result.export_dir == tmp_path / "model" and (result.export_dir / "model_card.json").is_file()
    assert "wine-api" in repr(result)
    me = psutil.Process(os.getpid())
    assert [c.pid for c in me.children(recursive=True) if c.is_running()
            and c.status() != psutil.STATUS_ZOMBIE] == []


def test_unknown_override_names_it() -> None:
    import search
    from spaces import TuneforgeError

    with pytest.raises(TuneforgeError, match="unknown option 'trails'.*did you mean 'trials'"):
        search.run({"name": "x", "space": {"units": {"type": "int", "low": 4, "high": 8}}}, trails=3)


def test_compare_from_python(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import search

    monkeypatch.setenv("TUNEFORGE_HOME", str(tmp_path / ".tuneforge"))
    comparison = search.compare({
        "name": "api-compare",
        "data": {"dataset": "iris", "validation": 0.25, "test": 0.2, "seed": 1},
        "space": {"units": {"type": "categorical", "choices": [4, 8]},
                  "learning_rate": {"type": "float", "low": 1e-2, "high": 5e-2, "log": True, "grid": [0.02]}},
        "fixed": {"n_layers": 1, "epochs": 2, "batch_size": 32, "patience": 0},
    }, strategies=["grid", "random"], repeats=1, workers=1, report_dir=str(tmp_path / "report"),
        tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    assert [row["strategy"] for row in comparison.summary] == ["grid", "random"]
    assert all(row["fits"] == 2 for row in comparison.summary)
    assert all(path.is_file() for path in comparison.files)
    assert comparison.parent_run_id
