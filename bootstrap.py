#!/usr/bin/env python3
"""Set up tuneforge from a fresh clone and run the main job or the tests.

    python3 bootstrap.py demo    # create .venv, install, run the demo study
    python3 bootstrap.py test    # create .venv, install, run the whole test suite

Needs only python3 (>= 3.11) with venv and pip. The virtualenv lives in .venv/
and is reinstalled only when pyproject.toml changes.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
STAMP = VENV / ".tuneforge-installed"

DEMO_STUDY = "studies/digits_mlp.yaml"


def _run(*cmd: str | os.PathLike[str]) -> None:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    result = subprocess.run([str(c) for c in cmd], cwd=ROOT)
    if result.returncode != 0:
        sys.exit(result.returncode)


def _ensure_venv() -> None:
    if sys.version_info < (3, 11):
        sys.exit(f"tuneforge needs Python >= 3.11, this is {sys.version.split()[0]}")
    if not (BIN / "python").exists():
        _run(sys.executable, "-m", "venv", VENV)
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text().strip() == wanted:
        return
    _run(BIN / "python", "-m", "pip", "install", "--quiet", "--upgrade", "pip")
    _run(BIN / "python", "-m", "pip", "install", "--quiet", "-e", ".[test]")
    _install_local_torch()
    STAMP.write_text(wanted)


def _install_local_torch() -> None:
    """Optuna's gp sampler needs PyTorch. Install it only from a wheel pip already has locally
    (its find-links), never the multi-GB CUDA build from the index; without one, gp is skipped."""
    pip = [str(BIN / "python"), "-m", "pip"]
    if subprocess.run([*pip, "show", "torch"], capture_output=True).returncode == 0:
        return
    probe = subprocess.run([*pip, "download", "--no-index", "--no-deps", "--dest", str(VENV / "wheels"), "torch"],
                           capture_output=True, text=True)
    wheels = sorted((VENV / "wheels").glob("torch-*.whl")) if probe.returncode == 0 else []
    if not wheels:
        print("note: no local PyTorch wheel; the gp algorithm stays unavailable (pip install 'tuneforge[gp]')")
        return
    version = wheels[-1].name.split("-")[1]
    _run(*pip, "install", "--quiet", f"torch=={version}")


def demo() -> None:
    """The main job: validate every ready study, then run the digits study end to end."""
    studies = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "studies").glob("*.yaml"))
    _run(BIN / "tuneforge", "validate", *studies)
    _run(BIN / "tuneforge", "run", DEMO_STUDY, "--workers", "2")


def test() -> None:
    """The whole test suite, two processes at a time."""
    _run(BIN / "python", "-m", "pytest", "-n", "2", "--dist", "worksteal", "-rfE", "--durations=15", *sys.argv[2:])


def main() -> None:
    commands = {"demo": demo, "test": test}
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        sys.exit(f"usage: python3 bootstrap.py {{{'|'.join(commands)}}} [pytest args]")
    _ensure_venv()
    commands[sys.argv[1]]()


if __name__ == "__main__":
    main()
