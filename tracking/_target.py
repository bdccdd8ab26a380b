"""Where an export may go: tuneforge replaces only a folder it wrote itself.

An export folder carries a marker file (:data:`MARKER`). A target is usable when it
does not exist yet (its nearest existing parent is a writable folder), is an empty
folder, or is a previous tuneforge export: the marker (or, for exports written
before the marker existed, a model card) and nothing but the files an export holds.
Anything else is refused before a single file is written, with the path and the fix.
"""

from __future__ import annotations

import os
from pathlib import Path

from spaces import TuneforgeError

MARKER = ".tuneforge-export"
CARD_FILE = "model_card.json"
EXPORT_FILES = frozenset({"saved_model", "model.keras", CARD_FILE, MARKER})


class ExportPathError(TuneforgeError):
    """The export path cannot be used without destroying or misplacing something."""


def _fix(target: Path) -> str:
    return f"choose another folder with --export-dir (or export.dir in the study file), or empty {target} first"


def _nearest_existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_export_target(directory: str | Path) -> Path:
    """The resolved export folder, or :class:`ExportPathError` naming the path, the problem and the fix."""
    target = Path(directory).expanduser().resolve()
    if target == target.parent:
        raise ExportPathError(f"export folder {target} is a filesystem root; an export replaces its folder "
                              "whole, so it needs a folder of its own", hint=_fix(target))
    if target.is_symlink() or (target.exists() and not target.is_dir()):
        raise ExportPathError(f"export path {target} is an existing file, not a folder; tuneforge will not "
                              "replace or rename it", hint=_fix(target))
    if target.is_dir():
        entries = {entry.name for entry in target.iterdir()}
        foreign = sorted(entries - EXPORT_FILES)
        ours = MARKER in entries or CARD_FILE in entries
        if entries and (foreign or not ours):
            shown = ", ".join(foreign[:3]) + (", ..." if len(foreign) > 3 else "") if foreign else "its files"
            raise ExportPathError(f"export folder {target} holds files tuneforge did not write ({shown}); "
                                  "an export replaces its folder whole, so they would be lost", hint=_fix(target))
    parent = _nearest_existing(target.parent)
    if not parent.is_dir():
        raise ExportPathError(f"export folder {target} cannot be created: {parent} is a file",
                              hint="choose another folder with --export-dir")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ExportPathError(f"export folder {target} cannot be written: no write permission on {parent}",
                              hint="choose a folder you can write with --export-dir")
    return target


def is_export(directory: Path) -> bool:
    """Whether ``directory`` holds a tuneforge export (its marker or, for older exports, its model card)."""
    return (directory / MARKER).is_file() or (directory / CARD_FILE).is_file()
