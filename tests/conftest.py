"""Shared fixtures: quiet TensorFlow, a CLI runner that uses a real subprocess."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "-1")

# The tests press Ctrl-C on the processes they start (a real SIGINT). A suite started in the
# background of a script (`.ci/run &`) ignores SIGINT, and every process it starts inherits the
# ignore: Python then keeps it, as a background job should, and those runs could not be stopped.
# A handler of our own is reset to the default in each child, so the children get Ctrl-C again.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

ROOT = Path(__file__).resolve().parents[1]
STUDIES = ROOT / "studies"


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str


def run_cli(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
            timeout: float = 600) -> CliResult:
    """Run ``tuneforge ARGS`` in a fresh interpreter, as a user would."""
    full_env = {**os.environ, **(env or {})}
    proc = subprocess.run(
        [sys.executable, "-m", "search.cli", *args],
        cwd=cwd or ROOT, env=full_env, capture_output=True, text=True, timeout=timeout,
    )
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture
def cli():
    """``cli("validate", path)`` -> CliResult(code, stdout, stderr)."""
    return run_cli
