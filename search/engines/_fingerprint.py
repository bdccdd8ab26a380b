"""What makes two runs the same study: the space, the data, the model and the objective."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from search.spec import Study


def study_identity(study: Study) -> dict[str, Any]:
    """The parts of a study that must not change when it is resumed."""
    spec = study.spec
    return {
        "space": study.space.to_dict(),
        "data": spec.data.model_dump(mode="json"),
        "task": study.task,
        "model": spec.model if isinstance(spec.model, str) else spec.model.model_dump(mode="json"),
        "objective": [study.metric, study.direction],
    }


def fingerprint(study: Study) -> str:
    """A short stable hash of :func:`study_identity`."""
    text = json.dumps(study_identity(study), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def describe_difference(stored: dict[str, Any], current: dict[str, Any]) -> str:
    """Which parts differ, e.g. ``space (units.high 256 -> 512)``."""
    parts = []
    for key in current:
        if stored.get(key) == current[key]:
            continue
        if key == "space" and isinstance(stored.get(key), dict):
            old, new = stored[key], current[key]
            changed = sorted(set(old) ^ set(new)) + sorted(k for k in set(old) & set(new) if old[k] != new[k])
            parts.append(f"space ({', '.join(changed)})")
        else:
            parts.append(key)
    return ", ".join(parts) or "nothing visible"
