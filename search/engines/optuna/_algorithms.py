"""Optuna samplers and pruners by the study file's names."""

from __future__ import annotations

from typing import Any

from spaces import TuneforgeError


def make_sampler(algorithm: str, *, seed: int | None, parallel: bool) -> Any:
    """tpe, random, gp, cmaes, qmc; grid is served by enqueued points (see the engine)."""
    import optuna

    s = optuna.samplers
    if algorithm == "tpe":
        return s.TPESampler(seed=seed, multivariate=True, group=True, constant_liar=parallel)
    if algorithm in ("random", "grid"):
        return s.RandomSampler(seed=seed)
    if algorithm == "gp":
        try:
            import torch  # noqa: F401
        except ImportError:
            raise TuneforgeError(
                "the gp algorithm needs PyTorch, which is not installed",
                path=("search", "algorithm"),
                hint="pip install 'tuneforge[gp]' (a CPU build of torch is enough), or use tpe",
            ) from None
        return s.GPSampler(seed=seed)
    if algorithm == "cmaes":
        return s.CmaEsSampler(seed=seed, warn_independent_sampling=False)
    if algorithm == "qmc":
        return s.QMCSampler(seed=seed, warn_independent_sampling=False, warn_asynchronous_seeding=False)
    raise TuneforgeError(f"unknown Optuna algorithm {algorithm!r}", path=("search", "algorithm"))


def make_pruner(pruner: str, *, max_epochs: int) -> Any:
    """median, successive_halving, hyperband, none."""
    import optuna

    p = optuna.pruners
    if pruner == "median":
        return p.MedianPruner(n_startup_trials=4, n_warmup_steps=2)
    if pruner == "successive_halving":
        return p.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3)
    if pruner == "hyperband":
        return p.HyperbandPruner(min_resource=1, max_resource=max(max_epochs, 1), reduction_factor=3)
    if pruner == "none":
        return p.NopPruner()
    raise TuneforgeError(f"unknown pruner {pruner!r}", path=("search", "pruner"))
