"""Malformed command-line input: exit 2, one line, the right reason, and nothing written first.

Also: ``--workers`` is capped at the trials left, and ``tuneforge worker`` refuses a
database without tuneforge's tables unless asked to create them.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from tests._studies import write_study
from tests.conftest import run_cli


def local_env(folder: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env["TUNEFORGE_HOME"] = str(folder / ".tuneforge")
    return env


def one_line_error(result) -> str:
    assert result.code == 2, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


@pytest.mark.parametrize("uri, reason", [
    ("bogus://zz", "unknown scheme 'bogus' in MLflow tracking URI 'bogus://zz'"),
    ("http://user:s3cret@127.0.0.1:9", "http://user:***@127.0.0.1:9 does not answer"),
])
def test_a_bad_tracking_uri_is_one_line_before_anything_is_written(tmp_path, uri, reason):
    path = write_study(tmp_path, "bad-uri", search={"trials": 1, "workers": 1})
    line = one_line_error(run_cli("run", str(path), "--tracking-uri", uri, cwd=tmp_path, env=local_env(tmp_path)))
    assert reason in line and "s3cret" not in line
    assert "Name or service not known" not in line  # the userinfo is not taken for a host name
    assert not (tmp_path / ".tuneforge" / "optuna.journal").exists()


def test_an_unknown_scheme_in_the_environment_names_the_variable(tmp_path):
    path = write_study(tmp_path, "bad-env", search={"trials": 1, "workers": 1})
    env = {**local_env(tmp_path), "MLFLOW_TRACKING_URI": "bogus://zz"}
    line = one_line_error(run_cli("run", str(path), cwd=tmp_path, env=env))
    assert "$MLFLOW_TRACKING_URI" in line


def test_worker_refuses_a_database_without_tuneforge_tables(tmp_path):
    db = tmp_path / "shop.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY)")
    url = f"sqlite:///{db}"
    line = one_line_error(run_cli("worker", "--storage", url, "--all", cwd=tmp_path, env=local_env(tmp_path)))
    assert "holds no tuneforge tables" in line and "--create-tables" in line
    with sqlite3.connect(db) as conn:
        assert [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")] == ["orders"]
    result = run_cli("worker", "--storage", url, "--all", "--create-tables", cwd=tmp_path, env=local_env(tmp_path))
    assert result.code == 0, result.stderr[-2000:]
    with sqlite3.connect(db) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"orders", "tuneforge_studies", "studies"} <= tables


@pytest.mark.slow
def test_workers_are_capped_at_the_trials_left(tmp_path):
    path = write_study(tmp_path, "capped", search={"trials": 1, "workers": 1},
                       fixed={"epochs": 1, "batch_size": 64, "patience": 0})
    result = run_cli("run", str(path), "--workers", "6", "--no-export", cwd=tmp_path, env=local_env(tmp_path))
    assert result.code == 0, result.stderr[-2000:]
    logs = sorted(p.name for p in (tmp_path / ".tuneforge" / "logs" / "capped").iterdir())
    assert logs == ["worker-0.log"]  # one trial: one worker booted, not six
