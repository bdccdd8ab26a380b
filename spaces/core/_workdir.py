"""tuneforge's local folder (stores, logs, locks)."""

from __future__ import annotations

import os
from pathlib import Path


def workdir() -> Path:
    """tuneforge's local folder: ``$TUNEFORGE_HOME`` or ``./.tuneforge``."""
    return Path(os.environ.get("TUNEFORGE_HOME", ".tuneforge")).resolve()
