"""The strategy names and their check (no heavy imports: runs before TensorFlow loads)."""

from __future__ import annotations

from spaces import SpecError, TuneforgeError, did_you_mean

OPTUNA = ("random", "tpe", "gp")
KERAS_TUNER = ("kt-bayesian", "kt-hyperband")
STRATEGIES = ("grid", *OPTUNA, *KERAS_TUNER)


def check_strategies(text: str) -> list[str]:
    """Parse ``grid,random,tpe`` (duplicates dropped, grid first); unknown names and gp without torch fail."""
    names = [s.strip() for s in text.split(",") if s.strip()]
    if not names:
        raise SpecError("needs at least one strategy", path=("--strategies",), hint=f"known: {', '.join(STRATEGIES)}")
    for name in names:
        if name not in STRATEGIES:
            raise SpecError(f"unknown strategy {name!r}; known: {', '.join(STRATEGIES)}", path=("--strategies",),
                            hint=did_you_mean(name, STRATEGIES))
    if "gp" in names:
        try:
            import torch  # noqa: F401
        except ImportError:
            raise TuneforgeError("the gp strategy needs PyTorch, which is not installed", path=("--strategies",),
                                 hint="pip install 'tuneforge[gp]' (a CPU build of torch is enough), "
                                      "or leave gp out") from None
    return sorted(dict.fromkeys(names), key=lambda s: s != "grid")  # grid first: it sets the target
