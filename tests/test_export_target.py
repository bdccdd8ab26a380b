"""Exports replace only what tuneforge wrote: user folders and files are refused, before the search starts.

One tiny study is run once for the module (1 trial, 1 epoch); every refusal is then
checked through the real CLI (``tuneforge export`` / ``tuneforge run``), by what is
left on disk: the user's files byte for byte, no temp or renamed copies.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests._studies import write_study
from tests.conftest import run_cli
from tracking._target import MARKER, ExportPathError, check_export_target

pytestmark = pytest.mark.slow


def local_env(folder: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env["TUNEFORGE_HOME"] = str(folder / ".tuneforge")
    return env


def user_folder(parent: Path) -> Path:
    folder = parent / "mine"
    (folder / "sub").mkdir(parents=True)
    (folder / "thesis.txt").write_text("four years of work")
    (folder / "sub" / "data.csv").write_text("a,b\n1,2\n")
    return folder


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def siblings(path: Path) -> list[str]:
    return sorted(p.name for p in path.parent.iterdir())


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A finished one-trial study, exported once to its default folder: (folder, study file)."""
    folder = tmp_path_factory.mktemp("finished")
    path = write_study(folder, "exported", search={"trials": 1, "workers": 1},
                       fixed={"epochs": 1, "batch_size": 64, "patience": 0})
    result = run_cli("run", str(path), cwd=folder, env=local_env(folder))
    assert result.code == 0, result.stderr[-3000:]
    return folder, path


# ------------------------------------------------------------------ the rule, without any process

def test_the_rule_accepts_new_empty_and_previous_exports(tmp_path):
    assert check_export_target(tmp_path / "new" / "deeper") == (tmp_path / "new" / "deeper").resolve()
    (tmp_path / "empty").mkdir()
    check_export_target(tmp_path / "empty")
    previous = tmp_path / "previous"
    (previous / "saved_model").mkdir(parents=True)
    (previous / MARKER).write_text("")
    check_export_target(previous)


@pytest.mark.parametrize("make, expected", [
    (lambda p: user_folder(p), "holds files tuneforge did not write (sub, thesis.txt)"),
    (lambda p: (p / "model.bin").write_text("x") and p / "model.bin", "is an existing file"),
    (lambda p: Path("/"), "is a filesystem root"),
    (lambda p: (p / "f").write_text("x") and p / "f" / "below", "cannot be created"),
])
def test_the_rule_refuses_what_is_not_ours(tmp_path, make, expected):
    with pytest.raises(ExportPathError) as info:
        check_export_target(make(tmp_path))
    assert expected in str(info.value) and "--export-dir" in str(info.value)


def test_a_previous_export_with_a_user_file_added_is_refused(tmp_path):
    previous = tmp_path / "previous"
    previous.mkdir()
    (previous / MARKER).write_text("")
    (previous / "notes.md").write_text("mine")
    with pytest.raises(ExportPathError, match="notes.md"):
        check_export_target(previous)


# ------------------------------------------------------------------ through the CLI

def test_export_refuses_a_user_folder_and_keeps_every_file(finished, tmp_path):
    folder, path = finished
    mine = user_folder(tmp_path)
    before = snapshot(mine)
    result = run_cli("export", str(path), "--export-dir", str(mine), cwd=folder, env=local_env(folder))
    assert result.code == 2, result.stderr[-2000:]
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert str(mine) in result.stderr and "--export-dir" in result.stderr
    assert snapshot(mine) == before
    assert siblings(mine) == ["mine"]  # nothing renamed aside, no temp folder


def test_export_refuses_an_existing_file_and_leaves_it_where_it_was(finished, tmp_path):
    folder, path = finished
    target = tmp_path / "model.bin"
    target.write_text("not a folder")
    result = run_cli("export", str(path), "--export-dir", str(target), cwd=folder, env=local_env(folder))
    assert result.code == 2 and "is an existing file" in result.stderr and str(target) in result.stderr
    assert target.read_text() == "not a folder" and siblings(target) == ["model.bin"]


def test_export_replaces_its_own_previous_export(finished):
    folder, path = finished
    target = folder / "models" / "exported"
    first = (target / "model_card.json").read_text()
    assert (target / MARKER).is_file()
    result = run_cli("export", str(path), cwd=folder, env=local_env(folder))
    assert result.code == 0, result.stderr[-2000:]
    assert (target / "model_card.json").read_text() != first  # a new card (its time), swapped in whole
    assert sorted(p.name for p in target.iterdir()) == sorted([MARKER, "model.keras", "model_card.json",
                                                                "saved_model"])
    assert [n for n in siblings(target) if n.startswith(".exported")] == []


@pytest.mark.parametrize("where", ["root", "file"])
def test_run_refuses_an_unusable_export_path_before_the_search(tmp_path, where):
    export_dir = "/" if where == "root" else str(tmp_path / "taken.txt")
    (tmp_path / "taken.txt").write_text("keep me")
    path = write_study(tmp_path, "early", export={"dir": export_dir}, search={"trials": 1, "workers": 1})
    result = run_cli("run", str(path), cwd=tmp_path, env=local_env(tmp_path))
    assert result.code == 2, result.stderr[-2000:]
    assert result.stderr.strip().count("\n") == 0 and "Traceback" not in result.stderr
    assert export_dir in result.stderr
    assert not (tmp_path / ".tuneforge").exists()  # no storage, no MLflow run, no worker log written
    assert (tmp_path / "taken.txt").read_text() == "keep me"
