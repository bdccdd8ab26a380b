"""``run``'s closing hint is a ``tuneforge ui`` command that works as printed, with no password in it."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from search.cli._run import ui_hint
from tests._studies import write_study
from tests.conftest import run_cli


def test_the_hint_carries_the_run_options_quoted() -> None:
    hint = ui_hint(Path("my studies/a.yaml"), storage="sqlite:////tmp/x y.db", tracking_uri="http://h:5000")
    assert shlex.split(hint) == ["tuneforge", "ui", "my studies/a.yaml", "--storage", "sqlite:////tmp/x y.db",
                                 "--tracking-uri", "http://h:5000"]
    assert ui_hint(Path("a.yaml"), storage=None, tracking_uri=None) == "tuneforge ui a.yaml"


def test_the_hint_never_prints_a_password() -> None:
    hint = ui_hint(Path("a.yaml"), storage="postgresql://bob:s3cret@db:5432/x",
                   tracking_uri="postgresql://eve:hunter2@db/mlflow")
    assert "s3cret" not in hint and "hunter2" not in hint
    assert "postgresql://bob:***@db:5432/x" in hint and "replace *** with the password" in hint


@pytest.mark.slow
def test_the_printed_ui_command_starts_the_ui(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The storage comes from $TUNEFORGE_STORAGE (kept off the command line): the hint leaves it out, since
    `tuneforge ui` reads it there too, and the printed command starts the UI on the run's study."""
    from tests.test_ui import local_env, start_ui

    study = write_study(tmp_path, "hinted", fixed={"epochs": 1, "batch_size": 64, "patience": 0},
                        search={"trials": 1, "workers": 1, "pruner": "none"})
    storage, tracking = f"sqlite:///{tmp_path / 'elsewhere.db'}", f"sqlite:///{tmp_path / 'runs.db'}"
    monkeypatch.setenv("TUNEFORGE_STORAGE", storage)
    result = run_cli("run", str(study), "--tracking-uri", tracking, "--no-export", cwd=tmp_path,
                     env=local_env(tmp_path))
    assert result.code == 0, result.stderr[-3000:]
    assert (tmp_path / "elsewhere.db").is_file() and not (tmp_path / ".tuneforge" / "optuna.journal").exists()
    (hint,) = re.findall(r"browse the runs: (.*)", result.stdout)
    words = shlex.split(hint)
    assert words[:2] == ["tuneforge", "ui"] and "--storage" not in words and tracking in words
    ui = start_ui(tmp_path, *words[2:])  # on free ports
    try:
        ui.read_until(r"http://127\.0\.0\.1:\d+")
    finally:
        code = ui.stop()
    assert code in (0, 130), ui.stderr()
