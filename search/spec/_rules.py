"""What the built-in models understand: parameter names, their domains, metrics per task."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from spaces import Param, SearchSpace, SpecError, did_you_mean
from spaces._params import Categorical, Float, Int

ACTIVATIONS = ("relu", "tanh", "elu", "selu", "sigmoid", "gelu", "swish", "silu", "leaky_relu", "softplus", "linear")
OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop", "nadam", "adagrad")
TASK_METRICS: dict[str, tuple[str, ...]] = {
    "classification": ("loss", "accuracy"),
    "binary": ("loss", "accuracy", "auc"),
    "regression": ("loss", "rmse", "mae"),
}
LOWER_IS_BETTER = ("loss", "rmse", "mae", "mse")
DEFAULT_METRIC = {"classification": "val_accuracy", "binary": "val_accuracy", "regression": "val_loss"}


@dataclass(frozen=True)
class Rule:
    """A parameter the built-in trainer or models read, and the values it accepts."""

    text: str
    check: Callable[[Any], bool]
    integer: bool = False
    training: bool = False  # read by the trainer, whatever the model


def _num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


RULES: dict[str, Rule] = {
    "n_layers": Rule("a whole number >= 0", lambda v: _num(v) and v >= 0, integer=True),
    "units": Rule("a whole number >= 1", lambda v: _num(v) and v >= 1, integer=True),
    "activation": Rule(f"one of {', '.join(ACTIVATIONS)}", lambda v: v in ACTIVATIONS),
    "dropout": Rule("a number in [0, 1)", lambda v: _num(v) and 0 <= v < 1),
    "l1": Rule("a number >= 0", lambda v: _num(v) and v >= 0),
    "l2": Rule("a number >= 0", lambda v: _num(v) and v >= 0),
    "batch_norm": Rule("true or false", lambda v: isinstance(v, bool)),
    "optimizer": Rule(f"one of {', '.join(OPTIMIZERS)}", lambda v: v in OPTIMIZERS, training=True),
    "learning_rate": Rule("a number > 0", lambda v: _num(v) and v > 0, training=True),
    "momentum": Rule("a number in [0, 1]", lambda v: _num(v) and 0 <= v <= 1, training=True),
    "weight_decay": Rule("a number >= 0", lambda v: _num(v) and v >= 0, training=True),
    "batch_size": Rule("a whole number >= 1", lambda v: _num(v) and v >= 1, integer=True, training=True),
    "epochs": Rule("a whole number >= 1", lambda v: _num(v) and v >= 1, integer=True, training=True),
    "patience": Rule("a whole number >= 0 (0 turns early stopping off)", lambda v: _num(v) and v >= 0,
                     integer=True, training=True),
}


def _extremes(param: Param) -> list[tuple[Any, tuple[str | int, ...]]]:
    """The values to check, each with the field that holds it (``("choices", 1)``, ``("low",)``)."""
    if isinstance(param, Categorical):
        return [(c, ("choices", i)) for i, c in enumerate(param.choices)]
    finite = param.domain_values()
    if finite is not None:  # bool, fixed
        return [(v, ()) for v in finite]
    assert isinstance(param, (Int, Float))
    grid = [(v, ("grid", i)) for i, v in enumerate(param.grid or ())]
    return [(param.low, ("low",)), (param.high, ("high",))] + grid


def check_parameters(space: SearchSpace, *, builtin_model: bool) -> None:
    """Every known name takes only values its rule accepts; built-in models know every name."""
    for error in parameter_errors(space, builtin_model=builtin_model):
        raise error


def parameter_errors(space: SearchSpace, *, builtin_model: bool) -> list[SpecError]:
    """The rule breaks of every parameter (at most one per parameter), in declaration order."""
    errors = []
    for param in space:
        error = _parameter_error(param, builtin_model=builtin_model)
        if error is not None:
            errors.append(error)
    return errors


def _parameter_error(param: Param, *, builtin_model: bool) -> SpecError | None:
    rule = RULES.get(param.name)
    if rule is None:
        if builtin_model:
            known = ", ".join(RULES)
            return SpecError(
                "is not a parameter the built-in models use",
                path=(param.name,),
                hint=did_you_mean(param.name, RULES) or f"known: {known}; or use model: {{builder: ...}}",
            )
        return None
    if not builtin_model and not rule.training:
        return None
    if rule.integer and isinstance(param, Float):
        return SpecError(f"must be {rule.text}, so declare it as type: int", path=(param.name, "type"))
    for value, where in _extremes(param):
        if not rule.check(value):
            return SpecError(f"must be {rule.text}, but the space allows {value!r}", path=(param.name, *where))
    return None


def resolve_objective(metric: str | None, direction: str | None, task: str | None) -> tuple[str, str]:
    """The objective metric and direction, defaulted from the task and checked against it."""
    if metric is None:
        metric = DEFAULT_METRIC.get(task or "classification", "val_loss")
    if not metric.startswith("val_"):
        raise SpecError(
            f"the objective is measured on validation data, so it must start with 'val_', but got {metric!r}",
            path=("objective", "metric"),
            hint=f"did you mean 'val_{metric}'?",
        )
    base = metric[len("val_"):]
    if task is not None and base not in TASK_METRICS[task]:
        allowed = ", ".join(f"val_{m}" for m in TASK_METRICS[task])
        raise SpecError(
            f"{task} models report {allowed}, but got {metric!r}",
            path=("objective", "metric"),
            hint=did_you_mean(metric, [f"val_{m}" for m in TASK_METRICS[task]]),
        )
    natural = "minimize" if base in LOWER_IS_BETTER else "maximize"
    if direction is None:
        direction = natural
    elif direction != natural and base in TASK_METRICS["binary"] + TASK_METRICS["regression"]:
        raise SpecError(
            f"{metric} should be {natural}d, but direction is {direction}",
            path=("objective", "direction"),
            hint=f"write direction: {natural}",
        )
    return metric, direction
