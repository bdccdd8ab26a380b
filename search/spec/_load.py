"""Load a study file into a checked :class:`Study`, turning every problem into one located error."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pydantic

from search.data.catalog import CATALOG
from search.spec._aliases import normalise_names
from search.spec._models import StudySpec
from search.spec._rules import parameter_errors, resolve_objective
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
    aliases: tuple[tuple[str, str], ...] = ()  # the course's names renamed: (("n_hidden", "n_layers"), ...)

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


class StudyErrors(SpecError):
    """Every independent error of one study file; each is one line of the message."""

    def __init__(self, errors: Sequence[TuneforgeError]) -> None:
        first = errors[0]
        super().__init__(first.message, path=first.path, source=first.source, line=first.line, hint=first.hint)
        self.errors = list(errors)

    def located(self, *, source: str | None = None, line: int | None = None,
                prefix: Sequence[PathPart] = ()) -> TuneforgeError:
        for error in self.errors:
            error.located(source=source, prefix=prefix)
        return self

    def __str__(self) -> str:
        return "\n".join(str(e) for e in self.errors)


def _one(errors: list[TuneforgeError]) -> TuneforgeError:
    return errors[0] if len(errors) == 1 else StudyErrors(errors)


def _translate_all(exc: pydantic.ValidationError, data: Any) -> list[TuneforgeError]:
    """One error per independent field (grouped by section and key), the deepest of each group."""
    groups: dict[tuple[PathPart, ...], list[Any]] = {}
    for e in exc.errors():
        key = _input_path(e["loc"], data, missing=e["type"] == "missing")[:2]
        groups.setdefault(key, []).append(e)
    return [_translate(errors, data) for errors in groups.values()]


def _translate(errors: Any, data: Any, prefix: tuple[PathPart, ...] = ()) -> TuneforgeError:
    """The deepest pydantic error (the union member the user meant) as a TuneforgeError with its path."""
    if isinstance(errors, pydantic.ValidationError):
        errors = errors.errors()
    located = [(_input_path(e["loc"], data, missing=e["type"] == "missing"), e) for e in errors]
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
    """Validate plain study data (from a file or from the study storage); reports every error at once."""
    data, aliases, errors = normalise_names(data)
    if "name" not in data and source:
        data["name"] = Path(source).stem.replace("_", "-")
    try:
        spec = None
        if "space" not in data:
            errors.append(SpecError("is required: declare the search space", path=("space",)))
        else:
            try:
                spec = StudySpec.model_validate(data)
            except pydantic.ValidationError as exc:
                errors.extend(_translate_all(exc, data))
                errors.extend(_space_errors(data, errors))
        if spec is None or errors:
            raise _one(errors or [SpecError("is invalid", path=())])
        study = _checked(spec, errors)
        if errors:
            raise _one(errors)
    except TuneforgeError as exc:
        for error in getattr(exc, "errors", [exc]):
            error.located(source=source, line=doc.line_of(_written(error.path, aliases)) if doc else None)
        raise exc.located(source=source) from None
    return Study(spec=spec, space=study[0], task=study[1], metric=study[2], direction=study[3], source=source,
                 aliases=aliases)


def _space_errors(data: Mapping[str, Any], found: list[TuneforgeError]) -> list[TuneforgeError]:
    """The space's own rule breaks when only other sections failed (so one run shows them all)."""
    if any(e.path[:1] in (("space",), ("fixed",), ("model",)) for e in found):
        return []
    try:
        space = SearchSpace.from_dict(data["space"])
    except TuneforgeError:
        return []
    builtin = not isinstance(data.get("model"), Mapping)
    return [e.located(prefix=("space",)) for e in parameter_errors(space, builtin_model=builtin)]


def _written(path: tuple[PathPart, ...], aliases: tuple[tuple[str, str], ...]) -> tuple[PathPart, ...]:
    """The path as the file spells it (``space.n_hidden`` for ``space.n_layers``), to find its line."""
    back = {new: old for old, new in aliases}
    return tuple(back.get(p, p) if i == 1 and isinstance(p, str) else p for i, p in enumerate(path))


def _checked(spec: StudySpec, errors: list[TuneforgeError]) -> tuple[SearchSpace, str | None, str, str]:
    """The full space, task, metric and direction; the rule breaks go to ``errors``."""
    space = _full_space(spec)
    builtin = not isinstance(spec.model, pydantic.BaseModel)
    for exc in parameter_errors(space, builtin_model=builtin):
        prefix: tuple[PathPart, ...] = ("fixed",) if exc.path and exc.path[0] in spec.fixed else ("space",)
        errors.append(exc.located(prefix=prefix))
    task = spec.task
    if task is None and isinstance(spec.data.dataset, str):
        task = CATALOG[spec.data.dataset].task
    metric, direction = "", ""
    try:
        metric, direction = resolve_objective(spec.objective.metric, spec.objective.direction, task)
    except TuneforgeError as exc:
        errors.append(exc)
    return space, task, metric, direction


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
