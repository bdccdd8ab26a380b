"""Compile a SearchSpace to Keras Tuner: ``(hp) -> config`` using ``hp.Int/Float/Choice``.

Every parameter (each layer copy too) is declared on every call, inside
``hp.conditional_scope`` for its conditions, so the oracle knows the whole space
and samples a parameter only when it is active.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from typing import Any

from spaces._params import Bool, Categorical, Fixed, Float, Int, Param, Scalar
from spaces._space import SearchSpace, layer_name

Scope = tuple[str, tuple[Scalar, ...]]


def _kt_when_values(param: Param, values: tuple[Scalar, ...]) -> tuple[Scalar, ...]:
    """The condition values as Keras Tuner holds them: a stepped float keeps its raw ``low + k*step``."""
    if not isinstance(param, Float) or param.step is None:
        return values
    # KT's value of index k, unclipped: above `high` by a rounding error at the top of the range
    return tuple(param.low + round((float(v) - param.low) / param.step) * param.step for v in values)


def declare_keras_tuner(hp: Any, param: Param, name: str) -> Any:
    """Declare ``param`` as ``name`` on a ``keras_tuner.HyperParameters``; returns its value."""
    if isinstance(param, Int):
        # KT reads `step` as a multiplier under log sampling and refuses step=1 there.
        step = None if param.log else param.step
        return hp.Int(name, param.low, param.high, step=step, sampling="log" if param.log else "linear")
    if isinstance(param, Float):
        if param.step is None:
            return hp.Float(name, param.low, param.high, sampling="log" if param.log else "linear")
        # KT counts the values as floor((max - min) / step) + 1, which loses `high` when the
        # division rounds down (0.9 // 0.1 == 8.0). Half a step of headroom gives the exact
        # count; on_step maps KT's low + k*step to the same value Optuna and the grid give.
        value = hp.Float(name, param.low, param.high + param.step / 2, step=param.step)
        return None if value is None else param.on_step(value)
    if isinstance(param, Bool):
        return hp.Boolean(name)
    if isinstance(param, Categorical):
        value = hp.Choice(name, list(param.choices))
        if value is not None and isinstance(param.choices[0], bool):
            return bool(value)  # KT's Choice stores booleans as 0 and 1
        return value
    if isinstance(param, Fixed):
        return hp.Fixed(name, param.value)
    raise TypeError(f"no Keras Tuner hyperparameter for {type(param).__name__}")


def _scopes(space: SearchSpace, param: Param) -> list[Scope]:
    """All conditions of ``param``, its ancestors' first (KT does not inherit them)."""
    scopes: list[Scope] = []
    for parent, values in param.when:
        target = space[parent]
        scopes += _scopes(space, target) + [(parent, _kt_when_values(target, values))]
    if param.per_layer is not None:
        scopes += _scopes(space, space[param.per_layer])
    seen: list[Scope] = []
    for s in scopes:
        if s not in seen:
            seen.append(s)
    return seen


def _targets(space: SearchSpace, param: Param) -> list[tuple[str, list[Scope]]]:
    """Each name ``param`` declares, with the scopes it is declared in."""
    scopes = _scopes(space, param)
    if param.per_layer is None:
        return [(param.name, scopes)]
    count = space[param.per_layer]
    assert isinstance(count, Int)
    counts = space.layer_counts(count)
    return [
        (layer_name(param.name, i), scopes + [(count.name, tuple(k for k in counts if k > i))])
        for i in range(count.high)
    ]


def to_keras_tuner(space: SearchSpace) -> Callable[[Any], dict[str, Any]]:
    """A function that declares the space on ``hp`` and returns the active config."""

    def build(hp: Any) -> dict[str, Any]:
        raw: dict[str, Any] = {}
        for param in space.ordered:
            for name, scopes in _targets(space, param):
                with ExitStack() as stack:
                    for parent, values in scopes:
                        stack.enter_context(hp.conditional_scope(parent, list(values)))
                    raw[name] = declare_keras_tuner(hp, param, name)
        return space.walk(lambda p, name: raw[name])

    return build
