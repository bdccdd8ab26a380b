"""SearchSpace: a set of parameters, their dependencies, and which exist in a config.

A parameter exists in a config when every ``when`` condition holds (its parent
exists and has one of the listed values). A ``per_layer: n_layers`` parameter
``units`` becomes ``units_0 .. units_{k-1}`` when ``n_layers == k``.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from spaces.core._errors import SpecError, did_you_mean
from spaces._params import PARAM_KINDS, Bool, Categorical, Fixed, Float, Int, Param

_COMMON_KEYS = ("type", "per_layer", "when")
_KIND_KEYS: dict[str, tuple[str, ...]] = {
    "int": ("low", "high", "log", "step", "grid", "points"),
    "float": ("low", "high", "log", "step", "grid", "points"),
    "categorical": ("choices",),
    "bool": (),
    "fixed": ("value",),
}
_REQUIRED: dict[str, tuple[str, ...]] = {
    "int": ("low", "high"),
    "float": ("low", "high"),
    "categorical": ("choices",),
    "bool": (),
    "fixed": ("value",),
}


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _is_count(value: Any) -> bool:
    """Whether ``value`` can be a layer count (a whole number, not a bool)."""
    return _is_number(value) and float(value).is_integer()


def layer_name(name: str, index: int) -> str:
    """The name of layer ``index``'s copy of a per-layer parameter (``units_0``)."""
    return f"{name}_{index}"


class SearchSpace:
    """An ordered, validated set of parameters.

    Build it from parameters (``SearchSpace(Int("n_layers", 1, 3), ...)``) or from the
    file form (``SearchSpace.from_dict({...})``); both give equal spaces.
    """

    def __init__(self, *params: Param | Iterable[Param]) -> None:
        flat: list[Param] = []
        for p in params:
            if isinstance(p, Param):
                flat.append(p)
            else:
                flat.extend(p)
        seen: dict[str, Param] = {}
        for p in flat:
            if not isinstance(p, Param):
                raise SpecError(f"expected a parameter (spaces.Int, spaces.Float, ...), but got {p!r}")
            if p.name in seen:
                raise SpecError("is declared twice", path=(p.name,), hint="give each parameter one name")
            seen[p.name] = p
        self._params: dict[str, Param] = seen
        self._check_references()
        self._order: tuple[Param, ...] = self._topological_order()

    # --- construction from the file form -----------------------------------------
    @classmethod
    def from_dict(cls, spec: Mapping[str, Any]) -> SearchSpace:
        """Build from ``{name: {type: ..., ...}}``; a list is short for categorical, a scalar for fixed."""
        if not isinstance(spec, Mapping):
            raise SpecError(f"must be a mapping of parameter names to specs, but got {type(spec).__name__}")
        if not spec:
            raise SpecError("is empty: declare at least one parameter")
        return cls(*(param_from_dict(str(name), body) for name, body in spec.items()))

    def to_dict(self) -> dict[str, dict[str, Any]]:
        """The file form; ``SearchSpace.from_dict(space.to_dict()) == space``."""
        return {p.name: p.to_dict() for p in self._params.values()}

    # --- access --------------------------------------------------------------------
    def __iter__(self) -> Iterator[Param]:
        return iter(self._params.values())

    def __len__(self) -> int:
        return len(self._params)

    def __contains__(self, name: object) -> bool:
        return name in self._params

    def __getitem__(self, name: str) -> Param:
        return self._params[name]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SearchSpace) and self._params == other._params

    def __hash__(self) -> int:
        return hash(tuple(self._params.values()))

    def __repr__(self) -> str:
        return f"SearchSpace({', '.join(repr(p) for p in self._params.values())})"

    @property
    def names(self) -> tuple[str, ...]:
        """Parameter names in declaration order."""
        return tuple(self._params)

    @property
    def ordered(self) -> tuple[Param, ...]:
        """Parameters with every parent before its children (declaration order otherwise)."""
        return self._order

    def max_layers(self, param: Param) -> int:
        """How many copies a per-layer parameter can have at most."""
        count = self._params[param.per_layer] if param.per_layer else None
        return int(count.high) if isinstance(count, Int) else 1

    def layer_counts(self, count: Int) -> tuple[int, ...]:
        """Every value a per-layer count parameter can take."""
        return tuple(range(count.low, count.high + 1, count.effective_step))

    # --- which parameters exist in a config ------------------------------------------
    def condition_holds(self, param: Param, config: Mapping[str, Any]) -> bool:
        """Whether every ``when`` condition of ``param`` holds in ``config``."""
        return all(parent in config and self._one_of(parent, config[parent], values) for parent, values in param.when)

    def _one_of(self, parent: str, value: Any, values: tuple[Any, ...]) -> bool:
        target = self._params[parent]
        if isinstance(target, Float) and target.step is not None and _is_number(value):
            # `when: {momentum: 0.3}` must match the 0.1 * 3 == 0.30000000000000004 samplers give
            return target.on_step(value) in {target.on_step(float(v)) for v in values}
        return value in values

    def walk(self, choose: Callable[[Param, str], Any]) -> dict[str, Any]:
        """Build one config define-by-run: ``choose(param, name)`` gives each existing value.

        Parents are chosen before children; a parameter whose condition fails, or
        layer copies beyond the chosen count, are never asked for.
        """
        config: dict[str, Any] = {}
        for param in self._order:
            if not self.condition_holds(param, config):
                continue
            if param.per_layer is None:
                config[param.name] = choose(param, param.name)
                continue
            count = config.get(param.per_layer)
            if not _is_count(count):  # missing or not a whole number: check_config reports it
                continue
            for i in range(int(count)):
                name = layer_name(param.name, i)
                config[name] = choose(param, name)
        return config

    def expected_names(self, config: Mapping[str, Any]) -> set[str]:
        """The names that must exist in ``config`` given the values of its parents."""
        return set(self.walk(lambda p, name: config.get(name)))

    def check_config(self, config: Mapping[str, Any]) -> list[str]:
        """Problems with ``config``: missing or extra names, values outside their domain."""
        problems = []
        expected = self.expected_names(config)
        for name in sorted(expected - set(config)):
            problems.append(f"{name} is missing")
        for name in sorted(set(config) - expected):
            problems.append(f"{name} should not exist")
        for name in sorted(expected & set(config)):
            param = self.param_of(name)
            if not param.contains(config[name]):
                problems.append(f"{name}={config[name]!r} is outside its domain")
        return problems

    def param_of(self, name: str) -> Param:
        """The parameter behind a config name (``units_2`` -> the ``units`` parameter)."""
        if name in self._params:
            return self._params[name]
        base, _, index = name.rpartition("_")
        if index.isdigit() and base in self._params and self._params[base].per_layer:
            return self._params[base]
        raise KeyError(name)

    def expand_shared(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Turn a grid point, where a per-layer parameter has one shared value, into a config."""
        return self.walk(lambda p, name: values[p.name])

    # --- validation ------------------------------------------------------------------
    def _check_references(self) -> None:
        params = self._params
        for p in params.values():
            if p.per_layer is not None:
                count = params.get(p.per_layer)
                if count is None:
                    raise SpecError(
                        f"names the unknown parameter '{p.per_layer}'",
                        path=(p.name, "per_layer"),
                        hint=did_you_mean(p.per_layer, params) or f"declare '{p.per_layer}' as an int",
                    )
                if not isinstance(count, Int) or count.log or count.low < 0:
                    raise SpecError(
                        f"must name a non-negative, linear int parameter, but '{p.per_layer}' is "
                        f"{count.kind}{' (log)' if getattr(count, 'log', False) else ''}",
                        path=(p.name, "per_layer"),
                    )
                if count.per_layer is not None:
                    raise SpecError(
                        f"'{p.per_layer}' is itself per-layer and cannot count layers", path=(p.name, "per_layer")
                    )
                for clash in params:  # not range(count.high): high may be huge
                    base, _, index = clash.rpartition("_")
                    copy = base == p.name and index.isdigit() and layer_name(base, int(index)) == clash
                    if copy and int(index) < count.high:
                        raise SpecError(
                            f"layer copy '{clash}' clashes with the parameter of that name",
                            path=(p.name, "per_layer"),
                            hint="rename one of them",
                        )
            for parent, values in p.when:
                target = params.get(parent)
                if target is None:
                    raise SpecError(
                        f"refers to the unknown parameter '{parent}'",
                        path=(p.name, "when", parent),
                        hint=did_you_mean(parent, params),
                    )
                if target.per_layer is not None:
                    raise SpecError(
                        f"cannot depend on the per-layer parameter '{parent}'", path=(p.name, "when", parent)
                    )
                for v in values:
                    if not target.contains(v):
                        raise SpecError(
                            f"{v!r} is not a value '{parent}' can take", path=(p.name, "when", parent)
                        )

    def _parents(self, p: Param) -> list[str]:
        parents = [parent for parent, _ in p.when]
        if p.per_layer is not None:
            parents.append(p.per_layer)
        return parents

    def _topological_order(self) -> tuple[Param, ...]:
        params = self._params
        order: list[Param] = []
        state: dict[str, str] = {}  # name -> "visiting" | "done"

        def visit(name: str, trail: list[str]) -> None:
            if state.get(name) == "done":
                return
            if state.get(name) == "visiting":
                cycle = trail[trail.index(name):] + [name]
                raise SpecError(
                    f"conditions form a cycle: {' -> '.join(cycle)}",
                    path=(name, "when"),
                    hint="a parameter cannot depend on itself, directly or through others",
                )
            state[name] = "visiting"
            for parent in self._parents(params[name]):
                visit(parent, trail + [name])
            state[name] = "done"
            order.append(params[name])

        for name in params:
            visit(name, [])
        return tuple(order)


def param_from_dict(name: str, body: Any) -> Param:
    """Build one parameter from its file form, checking keys and the kind."""
    if isinstance(body, list):
        body = {"type": "categorical", "choices": body}
    elif not isinstance(body, Mapping):
        body = {"type": "fixed", "value": body}
    if "type" not in body:
        raise SpecError(
            "has no `type`",
            path=(name,),
            hint=f"add type: one of {', '.join(PARAM_KINDS)}",
        )
    kind = body["type"]
    if not isinstance(kind, str) or kind not in PARAM_KINDS:
        raise SpecError(
            f"unknown type {kind!r}; known types are {', '.join(PARAM_KINDS)}",
            path=(name, "type"),
            hint=did_you_mean(str(kind), PARAM_KINDS),
        )
    allowed = _COMMON_KEYS + _KIND_KEYS[kind]
    for key in body:
        if key not in allowed:
            hint = did_you_mean(str(key), allowed) or f"a {kind} parameter accepts {', '.join(allowed)}"
            raise SpecError(f"unknown key {key!r}", path=(name, str(key)), hint=hint)
    for key in _REQUIRED[kind]:
        if key not in body:
            raise SpecError(f"a {kind} parameter needs `{key}`", path=(name,))
    kwargs = {k: v for k, v in body.items() if k != "type"}
    if kind in ("int", "float") and "log" in kwargs and not isinstance(kwargs["log"], bool):
        raise SpecError(f"must be true or false, but got {kwargs['log']!r}", path=(name, "log"))
    cls = PARAM_KINDS[kind]
    if kind == "categorical" and isinstance(kwargs.get("choices"), list):
        kwargs["choices"] = tuple(kwargs["choices"])
    if kind in ("int", "float") and isinstance(kwargs.get("grid"), list):
        kwargs["grid"] = tuple(kwargs["grid"])
    try:
        return cls(name, **kwargs)
    except TypeError as exc:  # a wrong keyword that slipped past the key check
        raise SpecError(str(exc), path=(name,)) from None


__all__ = ["SearchSpace", "param_from_dict", "layer_name", "Int", "Float", "Categorical", "Bool", "Fixed"]
