"""A fresh PostgreSQL database per test on the local server, and `tuneforge worker` processes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT

POSTGRES_URL = os.environ.get("TUNEFORGE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def _admin():
    import sqlalchemy

    return sqlalchemy.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT", poolclass=sqlalchemy.pool.NullPool)


def postgres_or_fail() -> None:
    """Skip when PostgreSQL is unreachable, but fail in CI (where it must run)."""
    import sqlalchemy

    try:
        with _admin().connect() as conn:
            conn.execute(sqlalchemy.text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL at {POSTGRES_URL} is unreachable in CI: {exc}")
        pytest.skip(f"PostgreSQL at {POSTGRES_URL} is unreachable: {exc}")


def fresh_database_url() -> Iterator[str]:
    """Create an empty database on the local server, yield its URL, drop it after."""
    import sqlalchemy

    postgres_or_fail()
    name = f"tf8b_{uuid.uuid4().hex[:12]}"
    with _admin().connect() as conn:
        conn.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
    try:
        yield POSTGRES_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        with _admin().connect() as conn:
            conn.execute(sqlalchemy.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def cli_env(folder: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env["TUNEFORGE_HOME"] = str(folder / ".tuneforge")
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    return env


def start_cli(folder: Path, *args: str, log: str) -> subprocess.Popen:
    """``tuneforge ARGS`` in the background, its output in ``folder/log``."""
    out = open(folder / log, "w")
    return subprocess.Popen([sys.executable, "-m", "search.cli", *args], cwd=folder, env=cli_env(folder),
                            stdout=out, stderr=subprocess.STDOUT)


def wait_for(condition: Callable[[], bool], *, timeout: float = 240, what: str = "condition",
             procs: list[subprocess.Popen] = ()) -> None:
    """Poll ``condition``; fail early when one of ``procs`` died."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return
        for p in procs:
            assert p.poll() is None, f"{p.args[3:5]} exited with {p.returncode} while waiting for {what}"
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")
