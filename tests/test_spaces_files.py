"""Reading spaces from YAML, JSON and TOML: the same space in every format, safely, with lines."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

import spaces
from spaces import Bool, Categorical, Fixed, Float, Int, SearchSpace, SourceError, SpecError, TuneforgeError

PYTHON_SPACE = SearchSpace(
    Int("n_layers", 0, 3),
    Int("units", 16, 512, log=True, per_layer="n_layers"),
    Float("dropout", 0.0, 0.5, step=0.1, per_layer="n_layers"),
    Float("learning_rate", 1e-4, 1e-1, log=True),
    Float("l2", 0.0, 0.01, points=5),
    Int("filters", 8, 64, step=8, grid=[8, 32, 64]),
    Categorical("activation", ["relu", "tanh"]),
    Categorical("batch_size", [16, 32, 64]),
    Categorical("label_smoothing", [0.0, 0.1]),
    Bool("batch_norm"),
    Categorical("optimizer", ["adam", "sgd"]),
    Float("momentum", 0.0, 0.9, when={"optimizer": "sgd"}),
    Bool("nesterov", when={"momentum": [0.0, 0.9]}),
    Fixed("epochs", 20),
)

YAML_SPACE = """\
n_layers: {type: int, low: 0, high: 3}
units: {type: int, low: 16, high: 512, log: true, per_layer: n_layers}
dropout:
  type: float
  low: 0.0
  high: 0.5
  step: 0.1
  per_layer: n_layers
learning_rate: {type: float, low: 1e-4, high: 1e-1, log: true}
l2: {type: float, low: 0, high: 0.01, points: 5}
filters: {type: int, low: 8, high: 64, step: 8, grid: [8, 32, 64]}
activation: [relu, tanh]
batch_size: {type: categorical, choices: [16, 32, 64]}
label_smoothing: {type: categorical, choices: [0.0, 0.1]}
batch_norm: {type: bool}
optimizer: {type: categorical, choices: [adam, sgd]}
momentum: {type: float, low: 0.0, high: 0.9, when: {optimizer: sgd}}
nesterov: {type: bool, when: {momentum: [0.0, 0.9]}}
epochs: 20
"""

JSON_SPACE = {
    "n_layers": {"type": "int", "low": 0, "high": 3},
    "units": {"type": "int", "low": 16, "high": 512, "log": True, "per_layer": "n_layers"},
    "dropout": {"type": "float", "low": 0.0, "high": 0.5, "step": 0.1, "per_layer": "n_layers"},
    "learning_rate": {"type": "float", "low": 0.0001, "high": 0.1, "log": True},
    "l2": {"type": "float", "low": 0, "high": 0.01, "points": 5},
    "filters": {"type": "int", "low": 8, "high": 64, "step": 8, "grid": [8, 32, 64]},
    "activation": ["relu", "tanh"],
    "batch_size": {"type": "categorical", "choices": [16, 32, 64]},
    "label_smoothing": {"type": "categorical", "choices": [0.0, 0.1]},
    "batch_norm": {"type": "bool"},
    "optimizer": {"type": "categorical", "choices": ["adam", "sgd"]},
    "momentum": {"type": "float", "low": 0.0, "high": 0.9, "when": {"optimizer": "sgd"}},
    "nesterov": {"type": "bool", "when": {"momentum": [0.0, 0.9]}},
    "epochs": 20,
}

TOML_SPACE = """\
n_layers = {type = "int", low = 0, high = 3}
units = {type = "int", low = 16, high = 512, log = true, per_layer = "n_layers"}
learning_rate = {type = "float", low = 1e-4, high = 1e-1, log = true}
l2 = {type = "float", low = 0, high = 0.01, points = 5}
filters = {type = "int", low = 8, high = 64, step = 8, grid = [8, 32, 64]}
activation = ["relu", "tanh"]
batch_size = {type = "categorical", choices = [16, 32, 64]}
label_smoothing = {type = "categorical", choices = [0.0, 0.1]}
batch_norm = {type = "bool"}
optimizer = {type = "categorical", choices = ["adam", "sgd"]}
momentum = {type = "float", low = 0.0, high = 0.9, when = {optimizer = "sgd"}}
nesterov = {type = "bool", when = {momentum = [0.0, 0.9]}}
epochs = 20

[dropout]
type = "float"
low = 0.0
high = 0.5
step = 0.1
per_layer = "n_layers"
"""


def write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def study_yaml(space_yaml: str) -> str:
    return "name: t\nspace:\n" + textwrap.indent(space_yaml, "  ")


def test_the_three_formats_and_the_python_api_give_one_space(tmp_path):
    from_yaml = spaces.load_space(write(tmp_path, "s.yaml", YAML_SPACE))
    from_json = spaces.load_space(write(tmp_path, "s.json", json.dumps(JSON_SPACE, indent=2)))
    from_toml = spaces.load_space(write(tmp_path, "s.toml", TOML_SPACE))
    assert from_yaml == PYTHON_SPACE
    assert from_json == PYTHON_SPACE
    assert from_toml == PYTHON_SPACE
    # types as well as values: 1e-4 is a float, 20 an int
    assert type(from_yaml["learning_rate"].low) is float
    assert type(from_yaml["epochs"].value) is int


def test_load_space_reads_the_space_section_of_a_study(tmp_path):
    path = write(tmp_path, "study.yaml", study_yaml(YAML_SPACE) + "fixed: {patience: 3}\n")
    assert spaces.load_space(path) == PYTHON_SPACE


def test_python_space_survives_every_format(tmp_path):
    """to_dict written as JSON and YAML and read back gives the same space."""
    import yaml

    data = PYTHON_SPACE.to_dict()
    assert spaces.load_space(write(tmp_path, "a.json", json.dumps(data))) == PYTHON_SPACE
    assert spaces.load_space(write(tmp_path, "a.yaml", yaml.safe_dump(data))) == PYTHON_SPACE


@pytest.mark.parametrize(
    ("text", "value", "kind"),
    [
        ("1e-4", 1e-4, float),
        ("1E-4", 1e-4, float),
        ("-2.5e+3", -2500.0, float),
        ("3e2", 300.0, float),
        ("0.5", 0.5, float),
        (".5", 0.5, float),
        ("12", 12, int),
        ("true", True, bool),
        ("false", False, bool),
        ("yes", "yes", str),
        ("no", "no", str),
        ("on", "on", str),
        ("off", "off", str),
        ("y", "y", str),
        ("'1e-4'", "1e-4", str),
        ("null", None, type(None)),
        ("2024-01-01", "2024-01-01", str),  # YAML 1.2 has no dates (1.1 built a datetime.date)
    ],
)
def test_yaml_scalars_follow_yaml_1_2(tmp_path, text, value, kind):
    doc = spaces.read_document(write(tmp_path, "v.yaml", f"v: {text}\n"))
    assert doc.data["v"] == value
    assert type(doc.data["v"]) is kind


def test_yes_no_choices_stay_strings(tmp_path):
    space = spaces.load_space(write(tmp_path, "s.yaml", "shuffle: {type: categorical, choices: [yes, no]}\n"))
    assert space["shuffle"].choices == ("yes", "no")


def test_yaml_keeps_the_line_of_every_key(tmp_path):
    doc = spaces.read_document(write(tmp_path, "s.yaml", study_yaml(YAML_SPACE)))
    lines = (tmp_path / "s.yaml").read_text().splitlines()
    for path in [("space", "dropout", "step"), ("space", "nesterov", "when"), ("name",)]:
        line = doc.line_of(path)
        assert f"{path[-1]}:" in lines[line - 1], (path, line)
    assert doc.line_of(("space", "dropout", "step")) == lines.index("    step: 0.1") + 1
    # a path below a known key falls back to the deepest known prefix
    assert doc.line_of(("space", "dropout", "step", "nothing")) == doc.line_of(("space", "dropout", "step"))


def test_error_in_a_space_file_names_file_line_and_field(tmp_path):
    text = YAML_SPACE.replace("  high: 0.5\n", "  high: -0.5\n")
    path = write(tmp_path, "s.yaml", text)
    with pytest.raises(SpecError) as info:
        spaces.load_space(path)
    line = text.splitlines().index("  low: 0.0") + 1
    assert str(info.value).startswith(f"{path}:{line}: dropout.low: `low <= high` must hold")


def test_error_in_a_study_space_carries_the_space_prefix(tmp_path):
    text = study_yaml("n_layers: {type: int, low: 1, hihg: 3}\n")
    path = write(tmp_path, "study.yaml", text)
    with pytest.raises(SpecError) as info:
        spaces.load_space(path)
    assert str(info.value) == f"{path}:3: space.n_layers.hihg: unknown key 'hihg' (did you mean 'high'?)"


# --- duplicate keys in every format --------------------------------------------------


def test_yaml_duplicate_key_is_refused_at_its_line(tmp_path):
    text = "a: 1\nb:\n  c: 1\n  c: 2\n"
    with pytest.raises(SpecError) as info:
        spaces.read_document(write(tmp_path, "d.yaml", text))
    assert info.value.line == 4
    assert info.value.path == ("b", "c")
    assert "duplicate key 'c'" in str(info.value)


def test_json_duplicate_key_is_refused_with_its_path(tmp_path):
    text = '{"a": 1, "space": {"n": {"type": "int", "low": 1, "high": 3, "low": 2}}}'
    with pytest.raises(SpecError) as info:
        spaces.read_document(write(tmp_path, "d.json", text))
    assert info.value.path == ("space", "n", "low")
    assert "duplicate key 'low'" in str(info.value)


def test_json_duplicate_key_inside_a_list(tmp_path):
    with pytest.raises(SpecError) as info:
        spaces.read_document(write(tmp_path, "d.json", '{"a": [1, {"b": 1, "b": 1}]}'))
    assert info.value.path == ("a", 1, "b")


def test_toml_duplicate_key_is_refused(tmp_path):
    with pytest.raises(SourceError, match="not valid TOML"):
        spaces.read_document(write(tmp_path, "d.toml", "a = 1\na = 2\n"))


# --- only plain data, and only a sane amount of it -----------------------------------


@pytest.mark.parametrize(
    "text",
    [
        'a: !!python/object/apply:os.system ["touch {marker}"]\n',
        '!!python/object/apply:os.system ["touch {marker}"]\n',
        'a: !!python/object/new:os.system ["touch {marker}"]\n',
        'a: [!!python/name:os.system , "{marker}"]\n',
        "a: !!binary aGVsbG8=\n",
        "a: !!set {{x, y}}\n",
        "a: !custom {{x: 1}}\n",
        "a: !!timestamp 2024-01-01\n",
    ],
)
def test_yaml_tags_that_build_objects_are_refused(tmp_path, text):
    marker = tmp_path / "executed"
    path = write(tmp_path, "t.yaml", text.format(marker=marker))
    with pytest.raises(SpecError, match="unsupported YAML tag"):
        spaces.read_document(path)
    assert not marker.exists()


def test_yaml_merge_keys_are_refused(tmp_path):
    text = "base: &b {low: 1}\nunits:\n  <<: *b\n  high: 3\n"
    with pytest.raises(SpecError, match="merge keys"):
        spaces.read_document(write(tmp_path, "m.yaml", text))


def test_yaml_alias_bomb_is_refused(tmp_path):
    lines = ["a0: &a0 [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]"]
    for i in range(1, 9):
        refs = ", ".join([f"*a{i - 1}"] * 10)
        lines.append(f"a{i}: &a{i} [{refs}]")
    with pytest.raises(SpecError, match="more than 100000 values"):
        spaces.read_document(write(tmp_path, "bomb.yaml", "\n".join(lines) + "\n"))


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("deep.json", '{"a": ' + "[" * 30000 + "]" * 30000 + "}"),
        ("deep.yaml", "a: " + "[" * 30000 + "]" * 30000 + "\n"),
        ("deep.toml", "a = " + "[" * 30000 + "]" * 30000 + "\n"),
    ],
)
def test_deep_nesting_is_a_clear_error_not_a_recursion_error(tmp_path, name, text):
    with pytest.raises(SourceError, match="nests too deeply"):
        spaces.read_document(write(tmp_path, name, text))


@pytest.mark.parametrize(
    ("name", "content", "words"),
    [
        ("s.yaml", "", "is empty"),
        ("s.yaml", "  \n\n\t\n", "is empty"),
        ("s.json", "[1, 2]", "mapping at the top level"),
        ("s.yaml", "- a\n- b\n", "mapping at the top level"),
        ("s.yaml", "just a string\n", "mapping at the top level"),
        ("s.txt", "a: 1\n", "unknown extension '.txt'"),
        ("s.yaml", b"a: 1\nb: \xff\xfe\n", "not valid UTF-8"),
        ("s.yaml", "a: [1, 2\n", "not valid YAML"),
        ("s.json", '{"a": 1,}', "not valid JSON"),
        ("s.toml", "a = \n", "not valid TOML"),
        ("s.yaml", "a: 1\n" + "#" * (1024 * 1024 + 1) + "\n", "study files are limited"),
    ],
)
def test_unreadable_files_raise_source_errors(tmp_path, name, content, words):
    path = write(tmp_path, name, content)
    with pytest.raises(SourceError) as info:
        spaces.read_document(path)
    assert words in str(info.value)
    assert str(info.value).startswith(str(path))
    assert isinstance(info.value, OSError)


def test_missing_file_and_directory_are_named_before_the_extension(tmp_path):
    with pytest.raises(SourceError, match="does not exist"):
        spaces.read_document(tmp_path / "nope.txt")
    with pytest.raises(SourceError, match="is a directory"):
        spaces.read_document(tmp_path)
    (tmp_path / "dir.yaml").mkdir()
    with pytest.raises(SourceError, match="is a directory"):
        spaces.read_document(tmp_path / "dir.yaml")


@pytest.mark.parametrize(
    ("name", "content", "line"),
    [
        ("s.yaml", "a: 1\nb: [1, 2\nc: 3\n", 3),
        ("s.json", '{\n  "a": 1,\n  "b": \n}', 4),
        ("s.toml", 'a = 1\nb = {x = 1 y = 2}\n', 2),
        ("s.yaml", b"a: 1\nb: 2\nc: \xc3\x28\n", 3),
    ],
)
def test_syntax_errors_carry_the_line(tmp_path, name, content, line):
    path = write(tmp_path, name, content)
    with pytest.raises(SourceError) as info:
        spaces.read_document(path)
    assert info.value.line == line
    assert str(info.value).startswith(f"{path}:{line}: ")


def test_every_error_is_a_tuneforge_error(tmp_path):
    for name, text in [("a.yaml", "a: !!python/none ''\n"), ("b.json", "{"), ("c.toml", "[")]:
        with pytest.raises(TuneforgeError):
            spaces.read_document(write(tmp_path, name, text))
