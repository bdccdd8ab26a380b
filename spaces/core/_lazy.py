"""Lazy module attributes: a package re-exports names whose modules load only on first use."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_getattr(namespace: dict[str, Any], names: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` that imports ``names[attr]`` (a module path) on first use and keeps the value.

    Used as ``__getattr__ = lazy_getattr(globals(), {"run": "search._api"})``: importing the package stays
    cheap (``tuneforge --help`` imports ``search``), and TensorFlow or pandas load only when needed.
    """

    def __getattr__(name: str) -> Any:
        if name in names:
            value = getattr(importlib.import_module(names[name]), name)
            namespace[name] = value
            return value
        raise AttributeError(f"module {namespace['__name__']!r} has no attribute {name!r}")

    return __getattr__
