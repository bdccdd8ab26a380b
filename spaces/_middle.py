"""The middle of a space: the one config a search tries before it samples.

Like ConfigSpace's default configuration (which SMAC evaluates first) and Keras Tuner's
first grid trial: every range at its middle (the geometric middle for ``log: true``,
rounded to the step or, for floats, to three significant digits), every list at its
first choice, every bool ``False``. Only parameters that exist at those values are set.
"""

from __future__ import annotations

import math
from typing import Any

from spaces._params import Float, Int, Param
from spaces._space import SearchSpace


def middle_value(param: Param) -> Any:
    """One parameter's middle: the centre of a range (geometric for log), the first of a list."""
    domain = param.domain_values()
    if domain is not None:
        return domain[0]
    assert isinstance(param, (Int, Float))
    low, high = param.low, param.high
    raw = math.sqrt(low * high) if param.log else (low + high) / 2
    if isinstance(param, Int):
        step = param.effective_step
        return int(low + round((raw - low) / step) * step)
    if param.step is not None:
        return param.on_step(raw)
    return min(max(float(f"{raw:.3g}"), low), high)  # 0.00173, not 0.0017320508075688772


def middle_config(space: SearchSpace) -> dict[str, Any]:
    """The space's middle config, fixed values included (per-layer copies all at the middle)."""
    return space.walk(lambda param, _name: middle_value(param))
