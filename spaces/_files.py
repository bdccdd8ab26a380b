"""Read a study or space file (YAML, JSON or TOML) safely, keeping line numbers.

Only plain data is read: no YAML tags that build objects, no pickles. YAML is read
with YAML 1.2 rules for numbers and booleans: ``1e-4`` is a float (PyYAML's default
reads it as a string) and only ``true``/``false`` are booleans (not ``yes``/``no``).
Duplicate keys are errors in every format.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from spaces.core._errors import PathPart, SourceError, SpecError

import tomllib

MAX_BYTES = 1024 * 1024
MAX_NODES = 100_000
SUFFIXES = {".yaml": "yaml", ".yml": "yaml", ".json": "json", ".toml": "toml"}


@dataclass
class Document:
    """Parsed file content plus the line of every key (YAML only)."""

    data: Any
    source: str
    lines: dict[tuple[PathPart, ...], int] = field(default_factory=dict)

    def line_of(self, path: Sequence[PathPart]) -> int | None:
        """The line of the deepest known prefix of ``path``."""
        path = tuple(path)
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return None


class _Loader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 floats and booleans."""


_REPLACED = ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:float", "tag:yaml.org,2002:timestamp")  # 1.2 has no dates
_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag not in _REPLACED]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
        |[-+]?\.[0-9_]+(?:[eE][-+]?[0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
        re.X,
    ),
    list("-+0123456789."),
)

_PLAIN_TAGS = {
    "tag:yaml.org,2002:str",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
}


class _YamlReader:
    def __init__(self, source: str) -> None:
        self.source = source
        self.lines: dict[tuple[PathPart, ...], int] = {}
        self.count = 0
        self.loader: _Loader | None = None

    def read(self, text: str) -> Any:
        self.loader = _Loader(text)
        try:
            node = self.loader.get_single_node()
            return None if node is None else self._convert(node, ())
        finally:
            self.loader.dispose()

    def _fail(self, node: yaml.Node, message: str, path: tuple[PathPart, ...], hint: str = "") -> SpecError:
        return SpecError(message, path=path, source=self.source, line=node.start_mark.line + 1, hint=hint)

    def _convert(self, node: yaml.Node, path: tuple[PathPart, ...]) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            raise self._fail(node, f"has more than {MAX_NODES} values (alias expansion?)", path)
        self.lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            if node.tag != "tag:yaml.org,2002:map":
                raise self._fail(node, f"unsupported YAML tag {node.tag!r}", path, "tuneforge reads plain data only")
            out: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    raise self._fail(key_node, "YAML merge keys (<<) are not supported", path, "write the keys out")
                key = self._convert(key_node, path)
                if not isinstance(key, (str, int, float, bool)):
                    raise self._fail(key_node, f"keys must be plain scalars, but got {key!r}", path)
                key = str(key) if not isinstance(key, str) else key
                if key in out:
                    raise self._fail(
                        key_node, f"duplicate key {key!r}", path + (key,), "each key may appear once in a mapping"
                    )
                self.lines[path + (key,)] = key_node.start_mark.line + 1
                out[key] = self._convert(value_node, path + (key,))
            return out
        if isinstance(node, yaml.SequenceNode):
            if node.tag != "tag:yaml.org,2002:seq":
                raise self._fail(node, f"unsupported YAML tag {node.tag!r}", path, "tuneforge reads plain data only")
            return [self._convert(item, path + (i,)) for i, item in enumerate(node.value)]
        if node.tag not in _PLAIN_TAGS:
            raise self._fail(
                node,
                f"unsupported YAML tag {node.tag!r}: tuneforge reads plain data only and builds no objects",
                path,
                "remove the tag",
            )
        assert self.loader is not None
        return self.loader.construct_object(node, deep=True)


class _Duplicated(dict):  # type: ignore[type-arg]
    """A JSON object with a repeated key, reported with its path once parsing is done."""

    key = ""


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            dup = _Duplicated(out)
            dup.key = key
            return dup
        out[key] = value
    return out


def _find_duplicate(data: Any, path: tuple[PathPart, ...] = ()) -> SpecError | None:
    if isinstance(data, _Duplicated):
        return SpecError(f"duplicate key {data.key!r}", path=path + (data.key,),
                         hint="each key may appear once in an object")
    items = data.items() if isinstance(data, dict) else enumerate(data) if isinstance(data, list) else ()
    for key, value in items:
        found = _find_duplicate(value, path + (key,))
        if found is not None:
            return found
    return None


def _parse_json(text: str, name: str) -> Any:
    try:
        data = json.loads(text, object_pairs_hook=_reject_duplicates)
    except json.JSONDecodeError as exc:
        raise SourceError(f"is not valid JSON: {exc.msg}", source=name, line=exc.lineno) from None
    duplicate = _find_duplicate(data)
    if duplicate is not None:
        raise duplicate.located(source=name)
    return data


def _parse_toml(text: str, name: str) -> Any:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        at = re.search(r" \(at line (\d+), column \d+\)$", message)
        line = int(at.group(1)) if at else None
        message = message[: at.start()] if at else message
        raise SourceError(f"is not valid TOML: {message}", source=name, line=line) from None


def _check_exists(p: Path, name: str) -> None:
    if not p.exists():
        raise SourceError("file does not exist", source=name, hint="check the path and the working directory")
    if p.is_dir():
        raise SourceError("is a directory, not a file", source=name, hint="name a .yaml, .json or .toml file")


def read_text(path: str | Path) -> str:
    """Read a file as UTF-8 text with clear errors for the usual mistakes."""
    p = Path(path)
    name = str(path)
    _check_exists(p, name)
    size = p.stat().st_size
    if size > MAX_BYTES:
        raise SourceError(
            f"is {size / 1024 / 1024:.1f} MiB; study files are limited to {MAX_BYTES // 1024} KiB",
            source=name,
            hint="a study file declares a search, it does not hold data: point data: at a csv or npz file",
        )
    raw = p.read_bytes()
    if not raw.strip():
        raise SourceError("is empty", source=name, hint="see studies/ for complete examples")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise SourceError(
            f"is not valid UTF-8 (byte {exc.start})", source=name, line=line, hint="save the file as UTF-8"
        ) from None


def read_document(path: str | Path) -> Document:
    """Parse a YAML, JSON or TOML file into plain data, with line numbers for YAML."""
    name = str(path)
    _check_exists(Path(path), name)  # before the extension: "does not exist" says more
    fmt = SUFFIXES.get(Path(path).suffix.lower())
    if fmt is None:
        raise SourceError(
            f"has an unknown extension {Path(path).suffix!r}", source=name, hint="use .yaml, .yml, .json or .toml"
        )
    text = read_text(path)
    try:
        return _parse(fmt, text, name)
    except RecursionError:
        raise SourceError(
            "nests too deeply to be read", source=name, hint="a study file needs a few levels of nesting"
        ) from None


def _parse(fmt: str, text: str, name: str) -> Document:
    if fmt == "yaml":
        reader = _YamlReader(name)
        try:
            data = reader.read(text)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line = mark.line + 1 if mark else None
            raise SourceError(f"is not valid YAML: {exc.problem or exc}", source=name, line=line) from None
        except yaml.YAMLError as exc:
            raise SourceError(f"is not valid YAML: {exc}", source=name) from None
        doc = Document(data, name, reader.lines)
    elif fmt == "json":
        doc = Document(_parse_json(text, name), name)
    else:
        doc = Document(_parse_toml(text, name), name)
    if not isinstance(doc.data, Mapping):
        raise SourceError(
            f"must hold a mapping at the top level, but holds {type(doc.data).__name__}",
            source=name,
            hint="see studies/ for complete examples",
        )
    return doc
