"""tuneforge's search: studies, data, models, the trainer, engines, workers, comparison and the CLI.

A regular package (not a namespace one), so an import of ``search`` resolves to exactly one tree.
The public Python API (for notebooks and scripts)::

    import search
    result = search.run("studies/digits_mlp.yaml", trials=10, workers=2)
    result.best, result.trials, result.test, result.export_dir
    comparison = search.compare("studies/boston_grid.yaml", strategies="grid,tpe", repeats=1)

This module stays cheap to import (``tuneforge --help`` imports it): the API loads on first use.
"""

from __future__ import annotations

from spaces.core._lazy import lazy_getattr

_LAZY = {"run": "search._api", "compare": "search._api", "RunResult": "search._api", "BestTrial": "search._api"}

__all__ = ["BestTrial", "RunResult", "compare", "run"]


__getattr__ = lazy_getattr(globals(), _LAZY)
