"""The study a storage holds: workers read its spec from there, never from a local file."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from search.spec import Study, study_from_dict


def stored_study(optuna_study: Any) -> Study:
    """The Study a storage holds (workers read the spec from there, not from a local file)."""
    spec = json.loads(optuna_study.user_attrs["spec"])
    study = study_from_dict(spec)
    return replace(study, root=optuna_study.user_attrs.get("base_dir"))
