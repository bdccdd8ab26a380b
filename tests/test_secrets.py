"""No password anywhere (issue 16, line 3): a submit -> worker -> status cycle with passwords in both URLs.

The study storage is PostgreSQL reached as a role with a password, and MLflow tracks to another
PostgreSQL database through a URI with userinfo (``postgresql://role:PASSWORD@host/db``; pg_hba
here is trust, but the password still travels in the URL everywhere tuneforge passes it). After
the cycle the test greps every output, every file written under the folder (logs, .tuneforge/,
MLflow artifacts), every MLflow param and tag, the study's stored attributes, and the command
line of every process tuneforge started (read with psutil while they run; the worker itself gets the
storage URL from ``$TUNEFORGE_STORAGE``). Error messages for
unreachable hosts with a password in the URL are checked too.
"""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from pathlib import Path

import optuna
import psutil
import pytest
import sqlalchemy

from tests._postgres import POSTGRES_URL, _admin, cli_env, postgres_or_fail
from tests._studies import write_study
from tests.conftest import run_cli

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

PASSWORD = f"Pw{uuid.uuid4().hex[:16]}"


@pytest.fixture
def secret_urls():
    """(storage URL, tracking URI): two fresh databases owned by a role that logs in with PASSWORD."""
    postgres_or_fail()
    role, databases = f"tf_secret_{uuid.uuid4().hex[:8]}", [f"tfs_{uuid.uuid4().hex[:10]}" for _ in range(2)]
    host = POSTGRES_URL.split("@", 1)[1].rsplit("/", 1)[0]
    with _admin().connect() as conn:
        conn.execute(sqlalchemy.text(f"CREATE ROLE {role} LOGIN PASSWORD '{PASSWORD}'"))
        for name in databases:
            conn.execute(sqlalchemy.text(f'CREATE DATABASE "{name}" OWNER {role}'))
    try:
        yield tuple(f"postgresql://{role}:{PASSWORD}@{host}/{name}" for name in databases)
    finally:
        with _admin().connect() as conn:
            for name in databases:
                conn.execute(sqlalchemy.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(sqlalchemy.text(f"DROP ROLE IF EXISTS {role}"))


def _cli(folder: Path, *args: str):
    result = run_cli(*args, cwd=folder, env=cli_env(folder))
    return result, result.stdout + result.stderr


def _command_lines_while_running(proc: subprocess.Popen) -> list[list[str]]:
    """The command lines of ``proc`` and its descendants (the processes tuneforge started), sampled until it exits."""
    parent = psutil.Process(proc.pid)
    seen: dict[int, list[str]] = {proc.pid: parent.cmdline()}
    while proc.poll() is None:
        try:
            for child in parent.children(recursive=True):
                try:
                    seen.setdefault(child.pid, child.cmdline())
                except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                    pass
        except psutil.NoSuchProcess:
            break
        time.sleep(0.1)
    return list(seen.values())


def _files_holding(folder: Path, secret: bytes) -> list[str]:
    return [str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file() and secret in p.read_bytes()]


def _mlflow_values(tracking_uri: str) -> list[str]:
    """Every param, tag and artifact location MLflow holds for every run and experiment."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    values: list[str] = []
    for experiment in client.search_experiments():
        values += [experiment.artifact_location, *experiment.tags.values()]
        for run in client.search_runs([experiment.experiment_id], max_results=1000):
            values += [*run.data.params.values(), *run.data.tags.values(), run.info.artifact_uri]
    return values


def test_no_password_in_outputs_logs_mlflow_or_command_lines(tmp_path, secret_urls):
    storage, tracking = secret_urls
    path = write_study(tmp_path, "secrets", fixed={"epochs": 1, "batch_size": 128, "patience": 0},
                       search={"trials": 2, "algorithm": "random"})
    outputs: list[str] = []

    submitted, out = _cli(tmp_path, "submit", str(path), "--storage", storage, "--tracking-uri", tracking)
    assert submitted.code == 0, out[-3000:]
    assert "secrets" in out and ":***@" in out  # the URLs are shown, redacted
    outputs.append(out)

    # The storage URL from the environment, as README says to keep it off `ps`: then no process of the
    # tree may show the password, not even a child caught between fork and exec (it shows its parent's).
    worker = subprocess.Popen([sys.executable, "-m", "search.cli", "worker", "--study", "secrets", "--workers", "1"],
                              cwd=tmp_path, env={**cli_env(tmp_path), "TUNEFORGE_STORAGE": storage},
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    command_lines = _command_lines_while_running(worker)
    outputs.append(worker.communicate(timeout=600)[0])
    assert worker.returncode == 0, outputs[-1][-3000:]
    assert command_lines, "the worker started no slot process"

    status, out = _cli(tmp_path, "status", "secrets", "--storage", storage)
    assert status.code == 0 and "study 'secrets'" in out, out[-3000:]
    outputs.append(out)
    listing, out = _cli(tmp_path, "status", "--storage", storage)
    assert listing.code == 0, out[-3000:]
    outputs.append(out)

    # errors: unreachable hosts with a password in the URL
    down_storage = f"postgresql://someone:{PASSWORD}@127.0.0.1:9/nowhere"
    failed, out = _cli(tmp_path, "status", "--storage", down_storage)
    assert failed.code == 2 and "Traceback" not in out and "someone:***@127.0.0.1:9" in out, out[-3000:]
    outputs.append(out)
    failed, out = _cli(tmp_path, "submit", str(path), "--storage", storage, "--tracking-uri",
                       f"http://someone:{PASSWORD}@127.0.0.1:9")
    assert failed.code == 2 and "Traceback" not in out and "does not answer" in out, out[-3000:]
    outputs.append(out)

    assert [o for o in outputs if PASSWORD in o] == []
    assert [c for c in command_lines if PASSWORD in " ".join(c)] == []
    assert _files_holding(tmp_path, PASSWORD.encode()) == []  # logs, .tuneforge/, MLflow artifacts
    values = _mlflow_values(tracking)
    assert len(values) > 10 and [v for v in values if v and PASSWORD in v] == []
    study = optuna.load_study(study_name="secrets", storage=storage)
    assert [k for k, v in study.user_attrs.items() if PASSWORD in f"{k}{v}"] == []
    assert all(PASSWORD not in f"{k}{v}" for t in study.get_trials() for k, v in t.user_attrs.items())
