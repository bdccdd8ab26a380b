"""The trust rule for builder code: which ``model: {builder: ...}`` may run, and where.

A builder must be a Python function defined (``def``) at the top of a source file: not a
built-in (``os:system``, ``builtins:eval``), a C function, a class or a name a module
merely imports. This is checked *without importing anything*: the module is located on
``sys.path`` (then the study's folder, searched last) and its source parsed.

A study file a user runs locally is their own code. A study read from a shared storage
(``tuneforge worker``) is code someone else wrote into a database: a worker runs its
builder only when started with ``--trust-builders`` **and** the builder's source file hashes
(sha256) to what ``tuneforge submit`` recorded; otherwise the study is refused before
anything is imported.
"""

from __future__ import annotations

import ast
import hashlib
import sys
from dataclasses import dataclass
from importlib.machinery import PathFinder, SourceFileLoader
from pathlib import Path
from typing import Any

from search.models._errors import ModelError

_FIELD = ("model", "builder")


class BuilderTrustError(ModelError):
    """A builder from a shared storage that this worker must not run."""


class BuilderNotFound(ModelError):
    """The builder's module is not on the search path (yet): importing it will say so again."""


@dataclass(frozen=True)
class BuilderSource:
    """Where a builder's code is, and its fingerprint."""

    dotted: str
    file: Path
    sha256: str


def _search_path(search_path: Path | str | None) -> list[str]:
    return [*sys.path, *([str(search_path)] if search_path is not None else [])]


def _locate_module(module: str, search_path: Path | str | None) -> Path:
    if module in sys.builtin_module_names:
        raise ModelError(f"{module!r} is a built-in module, not Python source; a builder must be a function "
                         "defined in a .py file", path=_FIELD, hint="write `def build(config, input_shape, "
                         "n_outputs)` in a module of your own next to the study file")
    locations: list[str] | None = _search_path(search_path)
    spec = None
    parts = module.split(".")
    for i in range(len(parts)):
        spec = PathFinder.find_spec(".".join(parts[: i + 1]), locations)
        if spec is None:
            raise BuilderNotFound(f"cannot find module {module!r}", path=_FIELD,
                             hint="check the name and that the module is on PYTHONPATH or next to the study file")
        locations = list(spec.submodule_search_locations or [])
    if not isinstance(spec.loader, SourceFileLoader) or not spec.origin:
        raise ModelError(f"module {module!r} is not Python source ({spec.origin or 'no file'}); a builder must be a "
                         "function defined in a .py file", path=_FIELD)
    return Path(spec.origin)


def _defined_function(tree: ast.Module, attr: str) -> ast.AST | None:
    found = None
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == attr:
            found = node
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.Import, ast.ImportFrom)):
            names = [a.asname or a.name for a in getattr(node, "names", [])]
            bound = getattr(node, "targets", [getattr(node, "target", None)])
            targets = [t.id for t in bound if isinstance(t, ast.Name)]
            if attr in names or attr in targets:
                found = node  # the last binding wins, as at import time
    return found


def locate_builder(dotted: str, search_path: Path | str | None = None) -> BuilderSource:
    """Find the builder's source file without importing it; :class:`ModelError` if it is not a ``def``."""
    module, _, attr = dotted.partition(":")
    file = _locate_module(module, search_path)
    try:
        source = file.read_bytes()
        tree = ast.parse(source, filename=str(file))
    except (OSError, SyntaxError, ValueError) as exc:
        raise ModelError(f"cannot read the builder's module {file}: {type(exc).__name__}: {exc}", path=_FIELD) from None
    node = _defined_function(tree, attr)
    if isinstance(node, ast.ClassDef):
        raise ModelError(f"{dotted!r} is a class, not a function", path=_FIELD,
                         hint="the builder is `def build(config, input_shape, n_outputs) -> keras.Model`")
    if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        what = "is not defined" if node is None else "is only imported or assigned"
        raise ModelError(f"{attr!r} {what} in {file}; a builder must be a function defined there with `def`",
                         path=_FIELD, hint="the builder is `def build(config, input_shape, n_outputs) -> keras.Model`")
    return BuilderSource(dotted, file, hashlib.sha256(source).hexdigest())


def check_stored_builder(study: Any, recorded_sha256: str | None, *, trusted: bool) -> None:
    """Refuse (:class:`BuilderTrustError`) a stored study's builder unless trusted and unchanged since submit."""
    model = study.spec.model
    if isinstance(model, str):
        return  # a built-in model: tuneforge's own code
    if not trusted:
        raise BuilderTrustError(
            f"study '{study.name}' runs builder code {model.builder!r} named in the shared storage; this worker "
            "was not started with --trust-builders, so it imports nothing", path=_FIELD,
            hint="start `tuneforge worker --trust-builders` only on machines where you trust everyone who can "
                 "write to this storage")
    found = locate_builder(model.builder, study.base_dir)
    if recorded_sha256 is None or found.sha256 != recorded_sha256:
        raise BuilderTrustError(
            f"study '{study.name}': the builder's source {found.file} (sha256 {found.sha256[:12]}) is not what was "
            f"submitted (sha256 {(recorded_sha256 or 'none recorded')[:12]}); refusing to run it", path=_FIELD,
            hint="submit the study again from the code you mean to run")
