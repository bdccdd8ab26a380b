"""Load a study file into a checked :class:`Study`, turning every problem into one located error."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pydantic

from search.data.catalog import CATALOG
from search.spec._models import StudySpec
from search.spec._rules import check_parameters, resolve_objective
from spaces import Document, Fixed, SearchSpace, SpecError, TuneforgeError, did_you_mean, read_document
from spaces.core._errors import PathPart


@dataclass(frozen=True)
class Study:
    """A validated study: the spec as written plus what follows from it."""

    spec: StudySpec
    space: SearchSpace  # the declared space plus `fixed` values
    task: str | None  # None when only the data can tell (csv/npz files)
    metric: str
    direction: str
    source: str | None = None
    root: str | None = None  # folder relative paths resolve against (default: the file's folder)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def base_dir(self) -> Path:
        """Relative paths in the file (data, export) are relative to the file's folder."""
        if self.root:
            return Path(self.root)
        return Path(self.source).resolve().parent if self.source else Path.cwd()


def _fields_at(model: type[pydantic.BaseModel], loc: Sequence[PathPart]) -> list[str]:
    """The field names of the (nested) model at ``loc``, for did-you-mean hints."""
    for part in loc:
        field = model.model_fields.get(str(part))
        annotation = getattr(field, "annotation", None)
        candidates = [annotation, *getattr(annotation, "__args__", ())]
        nested = [c for c in candidates if isinstance(c, type) and issubclass(c, pydantic.BaseModel)]
        if not nested:
            return []
        model = nested[0]
    return list(model.model_fields)


def _input_path(loc: Sequence[Any], data: Any, *, missing: bool) -> tuple[PathPart, ...]:
    """The parts of a pydantic location that index the input: drops union members ('str', 'Folds')."""
    kept: list[PathPart] = []
    for i, part in enumerate(loc):
        if isinstance(data, Mapping) and part in data or (
            isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data)
        ):
            kept.append(part)
            data = data[part]
        elif missing and i == len(loc) - 1:
            kept.append(part)  # the absent key itself
    return tuple(kept)


def _translate(exc: pydantic.ValidationError, data: Any, prefix: tuple[PathPart, ...] = ()) -> TuneforgeError:
    """The deepest pydantic error (the union member the user meant) as a TuneforgeError with its path."""
    located = [(_input_path(e["loc"], data, missing=e["type"] == "missing"), e) for e in exc.errors()]
    rel, err = max(located, key=lambda pair: len(pair[0]))  # max keeps the first of equals
    loc = prefix + rel
    cause = (err.get("ctx") or {}).get("error")
    if isinstance(cause, TuneforgeError):
        return cause.located(prefix=loc)
    if isinstance(cause, pydantic.ValidationError):
        return _translate(cause, err.get("input"), loc)
    kind, value = err["type"], err.get("input")
    if kind == "extra_forbidden":
        siblings = _fields_at(StudySpec, loc[:-1])
        return SpecError(
            f"unknown key {loc[-1]!r}",
            path=loc,
            hint=did_you_mean(str(loc[-1]), siblings) or (f"allowed: {', '.join(siblings)}" if siblings else ""),
        )
    if kind == "missing":
        return SpecError("is required", path=loc)
    message = err["msg"].removeprefix("Value error, ")
    message = message[:1].lower() + message[1:]
    shown = repr(value) if not isinstance(value, (dict, list)) else type(value).__name__
    return SpecError(f"{message}, but got {shown} ({type(value).__name__})", path=loc)


def study_from_dict(data: Mapping[str, Any], *, source: str | None = None, doc: Document | None = None) -> Study:
    """Validate plain study data (from a file or from the study storage)."""
    data = dict(data)
    if "name" not in data and source:
        data["name"] = Path(source).stem.replace("_", "-")
    try:
        if "space" not in data:
            raise SpecError("is required: declare the search space", path=("space",))
        try:
            spec = StudySpec.model_validate(data)
        except pydantic.ValidationError as exc:
            raise _translate(exc, data) from None
        space = _full_space(spec)
        builtin = not isinstance(spec.model, pydantic.BaseModel)
        try:
            check_parameters(space, builtin_model=builtin)
        except TuneforgeError as exc:
            prefix: tuple[PathPart, ...] = ("fixed",) if exc.path and exc.path[0] in spec.fixed else ("space",)
            raise exc.located(prefix=prefix) from None
        task = spec.task
        if task is None and isinstance(spec.data.dataset, str):
            task = CATALOG[spec.data.dataset].task
        metric, direction = resolve_objective(spec.objective.metric, spec.objective.direction, task)
    except TuneforgeError as exc:
        line = doc.line_of(exc.path) if doc else None
        raise exc.located(source=source, line=line) from None
    return Study(spec=spec, space=space, task=task, metric=metric, direction=direction, source=source)


def _full_space(spec: StudySpec) -> SearchSpace:
    for name in spec.fixed:
        if name in spec.space:
            raise SpecError(
                f"'{name}' is both searched (space) and fixed", path=("fixed", name), hint="keep one of them"
            )
    fixed = [Fixed(name, value) for name, value in spec.fixed.items()]
    try:
        return SearchSpace(*spec.space, *fixed)
    except TuneforgeError as exc:
        raise exc.located(prefix=("fixed",)) from None


def load_study(path: str | Path) -> Study:
    """Read and validate a study file (YAML, JSON or TOML)."""
    doc = read_document(path)
    study = study_from_dict(doc.data, source=str(path), doc=doc)
    if not isinstance(study.spec.model, str):  # a builder must be a `def` in a source file (nothing imported)
        from search.models._trust import BuilderNotFound, locate_builder

        try:
            locate_builder(study.spec.model.builder, study.base_dir)
        except BuilderNotFound:
            pass  # a module written later (or installed elsewhere): its import says so, with the path
        except TuneforgeError as exc:
            raise exc.located(source=str(path)) from None
    return study
