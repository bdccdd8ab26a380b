"""Builder code runs only by an explicit trust decision.

``validate`` refuses a builder that is not a ``def`` in a source file (``os:system``, builtins,
classes, imported names) without importing it; a builder named by a study in a shared
storage runs on ``tuneforge worker`` only with ``--trust-builders`` and only if its source
hashes to what ``submit`` recorded. "Nothing imported" is shown by a builder module that
writes a file when it is imported.
"""

from __future__ import annotations

import optuna
import pytest

from search.models._trust import locate_builder
from tests._postgres import cli_env, fresh_database_url
from tests._studies import write_study
from tests.conftest import run_cli

BUILDER = '''
from pathlib import Path
Path(__file__).with_name("imported.txt").write_text("the builder module was imported")

import keras

def build(config, input_shape, n_outputs):
    inputs = keras.Input(shape=input_shape)
    return keras.Model(inputs, keras.layers.Dense(n_outputs, activation="softmax")(inputs))

class Build:
    pass

from os import system
'''


@pytest.mark.parametrize("builder, reason", [
    ("os:system", "'system' is not defined in"),
    ("builtins:eval", "'builtins' is a built-in module"),
    ("posix:system", "'posix' is a built-in module"),
    ("mybuild:Build", "'mybuild:Build' is a class, not a function"),
    ("mybuild:system", "'system' is only imported or assigned in"),
    ("mybuild:nothing", "'nothing' is not defined in"),
    ("_json:scanstring", "is not Python source"),
])
def test_validate_refuses_what_is_not_a_def_in_a_source_file(tmp_path, builder, reason):
    (tmp_path / "mybuild.py").write_text(BUILDER)
    path = write_study(tmp_path, "untrusted", model={"builder": builder})
    result = run_cli("validate", str(path), cwd=tmp_path)
    assert result.code == 2, result.stdout[-2000:]
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "model.builder" in result.stderr and reason in result.stderr
    assert not (tmp_path / "imported.txt").exists()  # decided from the source, nothing imported


def test_validate_accepts_a_def_and_run_refuses_os_system_before_training(tmp_path):
    (tmp_path / "mybuild.py").write_text(BUILDER)
    good = write_study(tmp_path, "good", model={"builder": "mybuild:build"})
    assert run_cli("validate", str(good), cwd=tmp_path).code == 0
    assert not (tmp_path / "imported.txt").exists()
    bad = write_study(tmp_path, "bad", model={"builder": "os:system"})
    result = run_cli("run", str(bad), cwd=tmp_path, env={"TUNEFORGE_HOME": str(tmp_path / ".tuneforge")})
    assert result.code == 2 and "model.builder" in result.stderr
    assert not (tmp_path / ".tuneforge").exists()


def test_the_study_folder_is_searched_after_installed_modules(tmp_path):
    (tmp_path / "json.py").write_text("def build(config, input_shape, n_outputs):\n    return None\n")
    with pytest.raises(Exception, match="'build' is not defined in .*/json/__init__.py"):
        locate_builder("json:build", tmp_path)  # the real json package wins over the study folder's file


@pytest.fixture
def submitted(tmp_path):
    """A study with a builder, submitted to a fresh PostgreSQL database: (folder, url)."""
    urls = fresh_database_url()
    url = next(urls)
    (tmp_path / "mybuild.py").write_text(BUILDER)
    path = write_study(tmp_path, "shared", model={"builder": "mybuild:build"}, search={"trials": 1},
                       fixed={"epochs": 1, "batch_size": 64, "patience": 0})
    result = run_cli("submit", str(path), "--storage", url, "--tracking-uri", f"sqlite:///{tmp_path / 'm.db'}",
                     cwd=tmp_path, env=cli_env(tmp_path))
    assert result.code == 0, result.stderr[-2000:]
    assert not (tmp_path / "imported.txt").exists()
    yield tmp_path, url
    urls.close()


def trial_states(url: str) -> list[str]:
    """The states of the submitted study's trials: ``["WAITING"]`` is its queued first trial, never taken."""
    return [t.state.name for t in optuna.load_study(study_name="shared", storage=url).get_trials()]


@pytest.mark.slow
@pytest.mark.postgres
def test_a_worker_without_trust_refuses_the_builder_and_imports_nothing(submitted):
    folder, url = submitted
    result = run_cli("worker", "--storage", url, "--study", "shared", cwd=folder, env=cli_env(folder))
    assert result.code == 2
    assert "--trust-builders" in result.stderr and "mybuild:build" in result.stderr
    assert not (folder / "imported.txt").exists() and trial_states(url) == ["WAITING"]


@pytest.mark.slow
@pytest.mark.postgres
def test_a_trusting_worker_refuses_a_changed_builder(submitted):
    folder, url = submitted
    (folder / "mybuild.py").write_text(BUILDER + "\n# changed after submit\n")
    result = run_cli("worker", "--storage", url, "--study", "shared", "--trust-builders", cwd=folder,
                     env=cli_env(folder))
    assert result.code == 2 and "is not what was submitted" in result.stderr
    assert not (folder / "imported.txt").exists() and trial_states(url) == ["WAITING"]


@pytest.mark.slow
@pytest.mark.postgres
def test_a_trusting_worker_runs_the_submitted_builder(submitted):
    folder, url = submitted
    result = run_cli("worker", "--storage", url, "--study", "shared", "--trust-builders", cwd=folder,
                     env=cli_env(folder))
    assert result.code == 0, result.stderr[-3000:]
    assert (folder / "imported.txt").exists() and trial_states(url) == ["COMPLETE"]
