"""The course's parameter names, understood: ``n_hidden``, ``n_neurons``, ``lr``.

Keras courses build ``build_model(n_hidden, n_neurons, lr)`` and grid-search
``model__n_hidden``, ``model__n_neurons``, ``model__lr``. A study may use those names
(with or without the ``model__`` prefix); they become the built-in models' names before
anything else reads the file: ``n_hidden`` -> ``n_layers``, ``n_neurons`` -> ``units``
(one width shared by every layer, the course's meaning), ``lr`` -> ``learning_rate``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from spaces import SpecError, TuneforgeError

ALIASES: dict[str, str] = {"n_hidden": "n_layers", "n_neurons": "units", "lr": "learning_rate"}
SECTIONS = ("space", "fixed")


def _canonical(name: Any) -> Any:
    if not isinstance(name, str):
        return name
    bare = name.removeprefix("model__")
    return ALIASES.get(bare, bare if bare != name and bare in ALIASES.values() else name)


def _rewrite_refs(entry: Any) -> Any:
    """``per_layer: n_hidden`` and ``when: {n_hidden: ...}`` inside a space entry follow the rename."""
    if not isinstance(entry, Mapping):
        return entry
    out = dict(entry)
    if isinstance(out.get("per_layer"), str):
        out["per_layer"] = _canonical(out["per_layer"])
    if isinstance(out.get("when"), Mapping):
        out["when"] = {_canonical(k): v for k, v in out["when"].items()}
    return out


def normalise_names(data: Mapping[str, Any]) -> tuple[dict[str, Any], tuple[tuple[str, str], ...],
                                                         list[TuneforgeError]]:
    """The study data with the course's names renamed, the renames made, and the clashes found."""
    out = dict(data)
    renamed: list[tuple[str, str]] = []
    errors: list[TuneforgeError] = []
    for section in SECTIONS:
        block = data.get(section)
        if not isinstance(block, Mapping):
            continue
        new: dict[Any, Any] = {}
        written: dict[Any, Any] = {}
        for name, entry in block.items():
            target = _canonical(name)
            if target in new:
                errors.append(SpecError(
                    f"'{written[target]}' and '{name}' both mean '{target}'",
                    path=(section, name), hint="keep one of the two names"))
                continue
            written[target] = name
            if target != name:
                renamed.append((str(name), str(target)))
            new[target] = _rewrite_refs(entry) if section == "space" else entry
        out[section] = new
    return out, tuple(dict.fromkeys(renamed)), errors
