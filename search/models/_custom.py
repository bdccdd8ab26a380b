"""A user's own model function: ``"package.module:function"``."""

from __future__ import annotations

import importlib
import inspect
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from search.models._errors import BuilderFailed, ModelError


def import_builder(dotted: str, *, search_path: Path | None = None) -> Callable[..., Any]:
    """Import ``package.module:function``; the study file's folder is searched too, after ``sys.path``
    (never first: a file in a study folder must not shadow an installed module)."""
    module_name, _, attr = dotted.partition(":")
    added = False
    if search_path is not None and str(search_path) not in sys.path:
        sys.path.append(str(search_path))
        added = True
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # ImportError, or an error inside the user's module
        raise ModelError(
            f"cannot import module {module_name!r}: {type(exc).__name__}: {exc}",
            path=("model", "builder"),
            hint="check the name and that the module is on PYTHONPATH or next to the study file",
        ) from None
    finally:
        if added:
            sys.path.remove(str(search_path))
    builder = getattr(module, attr, None)
    if callable(builder) and not inspect.isfunction(builder):  # os:system, a class, a C function
        raise ModelError(f"{dotted!r} is not a Python function defined in a source file "
                         f"({type(builder).__name__})", path=("model", "builder"),
                         hint="the builder is `def build(config, input_shape, n_outputs) -> keras.Model`")
    if not callable(builder):
        raise ModelError(
            f"module {module_name!r} has no function {attr!r}",
            path=("model", "builder"),
            hint="the builder is `def build(config, input_shape, n_outputs) -> keras.Model`",
        )
    return builder


def build_custom(builder: Callable[..., Any], config: Mapping[str, Any], input_shape: tuple[int, ...],
                 n_outputs: int, dotted: str) -> Any:
    """Call the user's builder and check it returned a Keras model.

    A builder that raises gives :class:`BuilderFailed` (the trial fails); one that returns
    something other than a ``keras.Model`` gives :class:`ModelError` (the study is wrong).
    """
    import keras

    try:
        model = builder(dict(config), tuple(input_shape), int(n_outputs))
    except Exception as exc:
        # it may reject only this config: a trial failure (FAIL with the reason), not a broken study
        raise BuilderFailed(f"the builder {dotted!r} raised {type(exc).__name__}: {exc}") from exc
    if not isinstance(model, keras.Model):
        raise ModelError(
            f"the builder {dotted!r} must return a keras.Model, but returned {type(model).__name__}",
            path=("model", "builder"),
        )
    return model
