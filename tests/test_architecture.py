"""The layout stays layered: an AST import graph of spaces/, search/ and tracking/ (function-level imports too).

- no import cycle between files, and none between the second-level packages of search/;
- spaces/ and tracking/ import nothing from search/;
- no module over 450 lines;
- a storage URL's or tracking URI's scheme is tested in one module (spaces/core/_url.py), nowhere else.

Imports under ``if TYPE_CHECKING:`` are annotations only and do not count.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("spaces", "search", "tracking")
MAX_LINES = 450
URL_MODULE = "spaces.core._url"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _files() -> dict[str, Path]:
    return {_module_name(p): p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))}


FILES = _files()


def _known(name: str) -> str | None:
    """The longest prefix of ``name`` that is one of our modules."""
    while name and name not in FILES:
        name = name.rpartition(".")[0]
    return name or None


def _imports(module: str, path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            node.body = []
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(filter(None, (_known(a.name) for a in node.names)))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
                package = package[:len(package) - (node.level - 1)]
                base = ".".join(package + ([base] if base else []))
            for alias in node.names:
                target = _known(f"{base}.{alias.name}") if f"{base}.{alias.name}" in FILES else _known(base)
                if target:
                    found.add(target)
    found.discard(module)
    return found


GRAPH = {module: _imports(module, path) for module, path in FILES.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _room(module: str) -> str | None:
    """``search.engines.optuna._engine`` -> ``search.engines``; None for search's own top-level modules."""
    parts = module.split(".")
    if parts[0] != "search" or len(parts) < 2:
        return None
    room = ".".join(parts[:2])
    return room if (ROOT / "search" / parts[1]).is_dir() else None


def test_the_graph_sees_function_level_and_relative_imports():
    assert "search.storage" in GRAPH["search.executors._base"]  # inside a method
    assert "search.engines" in GRAPH["search.workers._worker"]  # inside work()
    assert "search.storage._schema" in GRAPH["search.storage._lock"]


def test_no_import_cycle_between_files():
    assert _cycles(GRAPH) == []


def test_no_import_cycle_between_the_rooms_of_search():
    rooms: dict[str, set[str]] = {}
    for module, targets in GRAPH.items():
        if _room(module) is None:
            continue
        rooms.setdefault(_room(module), set()).update(
            r for r in map(_room, targets) if r is not None and r != _room(module))
    assert _cycles(rooms) == []


@pytest.mark.parametrize("package", ["spaces", "tracking"])
def test_lower_layers_import_nothing_from_search(package):
    upward = {m: sorted(t for t in targets if t.split(".")[0] == "search")
              for m, targets in GRAPH.items() if m.split(".")[0] == package}
    assert {m: t for m, t in upward.items() if t} == {}


def test_no_module_over_450_lines():
    long = {m: n for m, p in FILES.items() if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert long == {}


SCHEME_TEST = re.compile(
    r"""\.(startswith|endswith)\(\s*\(?\s*f?["'](journal|sqlite|postgres|postgresql|mysql|http|https|file)\b""")


def test_url_schemes_are_tested_only_in_the_url_module():
    offenders = [f"{m}:{i}" for m, p in FILES.items() if m != URL_MODULE
                 for i, line in enumerate(p.read_text().splitlines(), 1) if SCHEME_TEST.search(line)]
    assert offenders == []
