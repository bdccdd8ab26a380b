"""``tuneforge validate`` run as a user runs it: real files, a real subprocess.

A malformed study must end with exit status 2 and one short ``error:`` line that names
the file, the line (YAML) and the field, never a traceback.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from conftest import ROOT, STUDIES

STUDY_FILES = sorted(STUDIES.glob("*.yaml"))
MARK = "# <-"  # marks the line an error must point at
SUBPROCESS_TIMEOUT = 120  # a guard against hangs, not a timing assertion
MAX_ERROR_CHARS = 400
WIDE = {"COLUMNS": "400"}  # rich wraps at the terminal width; keep each row and the summary on one line


def squash(text: str) -> str:
    """Text without whitespace: rich wraps a table's title (the file path) at the table's width."""
    return "".join(text.split())


def table_rows(stdout: str) -> dict[str, str]:
    """The table's lines keyed by the parameter name in their first cell (any box style)."""
    rows = {}
    for line in stdout.splitlines():
        match = re.match(r"^\W*([A-Za-z_]\w*)\s+\W", line)
        if match and match.group(1) not in rows:
            rows[match.group(1)] = line
    return rows


def study(space: str, rest: str = "", *, head: str = "name: t\n") -> str:
    """A study file with the given space lines (indented under ``space:``) and other sections."""
    space = textwrap.indent(textwrap.dedent(space).strip("\n") + "\n", "  ")
    return head + "space:\n" + space + textwrap.dedent(rest).lstrip("\n")


SPACE = """
    n_layers: {type: int, low: 1, high: 3}
    units: {type: int, low: 16, high: 256, log: true, per_layer: n_layers}
    optimizer: {type: categorical, choices: [adam, sgd]}
    momentum: {type: float, low: 0.0, high: 0.9, when: {optimizer: sgd}}
    batch_size: {type: categorical, choices: [16, 32]}
"""
GOOD = study(SPACE, "fixed: {epochs: 3}\n")


@dataclass
class Bad:
    """A malformed study: its text, the field the error must name and words it must contain."""

    id: str
    text: str | bytes
    field_path: str | None
    words: list[str] = field(default_factory=list)
    name: str = "study.yaml"
    line: int | None = None  # where no MARK comment can go

    def expected_line(self) -> int | None:
        if self.line is not None:
            return self.line
        if isinstance(self.text, bytes) or MARK not in self.text:
            return None
        return [i for i, line in enumerate(self.text.splitlines(), 1) if MARK in line][0]


BUILDER = "name: t\nmodel: {builder: 'my_models:build'}\n"

BAD = [
    # --- the space --------------------------------------------------------------------------
    Bad("low_gt_high", study("""
        n_layers: {type: int, low: 5, high: 3}  # <-
    """), "space.n_layers.low", ["`low <= high` must hold", "(low=5, high=3)"]),
    Bad("log_low_zero", study("""
        n_layers: {type: int, low: 1, high: 3}
        units:
          type: int
          low: 0  # <-
          high: 256
          log: true
    """), "space.units.low", ["log-scaled range needs low > 0"]),
    Bad("empty_choices", study("""
        optimizer:
          type: categorical
          choices: []  # <-
    """), "space.optimizer.choices", ["at least one choice"]),
    Bad("per_layer_unknown", study("""
        n_layers: {type: int, low: 1, high: 3}
        units: {type: int, low: 16, high: 256, per_layer: n_layer}  # <-
    """), "space.units.per_layer", ["unknown parameter 'n_layer'", "did you mean 'n_layers'?"]),
    Bad("per_layer_not_int", study("""
        optimizer: [adam, sgd]
        units:
          type: int
          low: 16
          high: 256
          per_layer: optimizer  # <-
    """), "space.units.per_layer", ["'optimizer' is categorical"]),
    Bad("when_cycle", study("""
        a: {type: categorical, choices: [x, y], when: {b: u}}  # <-
        b: {type: categorical, choices: [u, v], when: {a: x}}
    """, head=BUILDER), "space.a.when", ["cycle: a -> b -> a"]),
    Bad("when_unknown", study("""
        optimizer: [adam, sgd]
        momentum:
          type: float
          low: 0.0
          high: 0.9
          when:
            optimiser: sgd  # <-
    """), "space.momentum.when.optimiser", ["unknown parameter 'optimiser'", "did you mean 'optimizer'?"]),
    Bad("unknown_type", study("""
        optimizer:
          type: categorial  # <-
          choices: [adam, sgd]
    """), "space.optimizer.type", ["unknown type 'categorial'", "did you mean 'categorical'?"]),
    Bad("misspelt_key", study("""
        n_layers:
          type: int
          low: 1
          hihg: 3  # <-
    """), "space.n_layers.hihg", ["unknown key 'hihg'", "did you mean 'high'?"]),
    Bad("string_for_number", study("""
        n_layers:
          type: int
          low: "abc"  # <-
          high: 3
    """), "space.n_layers.low", ["must be a whole number", "'abc'"]),
    Bad("duplicate_key", study("""
        optimizer: [adam, sgd]
        n_layers: {type: int, low: 1, high: 3}
        optimizer: [adam]  # <-
    """), "space.optimizer", ["duplicate key 'optimizer'"]),
    Bad("points_0", study("""
        momentum:
          type: float
          low: 0.0
          high: 0.9
          points: 0  # <-
    """), "space.momentum.points", ["whole number >= 2"]),
    Bad("step_with_log", study("""
        learning_rate:
          type: float
          low: 1e-4
          high: 1e-1
          log: true
          step: 0.01  # <-
    """), "space.learning_rate.step", ["`step` and `log: true` cannot be combined"]),
    Bad("step_not_dividing", study("""
        momentum:
          type: float
          low: 0.0
          high: 0.9
          step: 0.4  # <-
    """), "space.momentum.step", ["multiple of step", "step=0.4"]),
    Bad("mixed_choices", study("""
        batch_size:
          type: categorical
          choices: [16, "32"]  # <-
    """), "space.batch_size.choices", ["one type", "['int', 'str']"]),
    Bad("type_not_a_string", study("""
        n_layers:
          type: [int]  # <-
          low: 1
          high: 3
    """), "space.n_layers.type", ["unknown type ['int']"]),
    Bad("python_tag_refused", study("""
        n_layers: !!python/object/apply:os.system ["touch {marker}"]  # <-
    """), "space.n_layers", ["unsupported YAML tag", "python/object/apply:os.system"]),
    # --- what the built-in models accept ------------------------------------------------------
    Bad("batch_size_zero_choice", study("""
        batch_size:
          type: categorical
          choices: [0, 32]  # <-
    """), "space.batch_size.choices[0]", ["a whole number >= 1", "allows 0"]),
    Bad("batch_size_zero_fixed", study("""
        n_layers: {type: int, low: 1, high: 3}
    """, """
        fixed:
          batch_size: 0  # <-
    """), "fixed.batch_size", ["a whole number >= 1", "allows 0"]),
    # --- the other sections -----------------------------------------------------------------
    Bad("unknown_top_level_key", study(SPACE, """
        serach:  # <-
          trials: 5
    """), "serach", ["unknown key 'serach'", "did you mean 'search'?"]),
    Bad("engine_algorithm_pair", study(SPACE, """
        search:
          engine: keras_tuner
          algorithm: tpe  # <-
    """), "search.algorithm", ["keras_tuner engine runs random, bayesian, hyperband", "'tpe'"]),
    Bad("unknown_dataset", study(SPACE, """
        data:
          dataset: digit  # <-
    """), "data.dataset", ["unknown dataset 'digit'", "did you mean 'digits'?"]),
    Bad("metric_without_val", study(SPACE, """
        objective:
          metric: accuracy  # <-
    """), "objective.metric", ["must start with 'val_'", "did you mean 'val_accuracy'?"]),
    Bad("timeout_not_a_duration", study(SPACE, """
        search:
          timeout: 5 minutes  # <-
    """), "search.timeout", ["duration like 90, '90s', '20m' or '1h30m'", "'5 minutes'"]),
    # --- the file itself --------------------------------------------------------------------
    Bad("yaml_syntax", "name: t\nspace:\n  n_layers: {type: int, low: 1\n  units: 3\n", None,
        ["is not valid YAML"], line=4),
    Bad("empty_file", "", None, ["is empty"]),
    Bad("invalid_utf8", b"name: t\nspace:\n  optimizer: [adam, \xff\xfe]\n", None, ["not valid UTF-8"], line=3),
    Bad("deep_nesting", '{"name": "t", "space": ' + "[" * 20000 + "]" * 20000 + "}", None, ["nests too deeply"],
        name="study.json"),
    Bad("json_duplicate_key", json.dumps({"name": "t", "space": {"n_layers": {}}}).replace(
        '{"n_layers": {}}', '{"n_layers": {"type": "int", "low": 1, "high": 3, "low": 2}}'),
        "space.n_layers.low", ["duplicate key 'low'"], name="study.json"),
    Bad("toml_syntax", 'name = "t"\n[space]\nn_layers = {type = "int", low = 1 high = 3}  # <-\n', None,
        ["is not valid TOML"], name="study.toml"),
    Bad("toml_low_gt_high", 'name = "t"\n[space]\nn_layers = {type = "int", low = 5, high = 3}\n',
        "space.n_layers.low", ["`low <= high` must hold"], name="study.toml"),
]


def check_error(result, path: Path, *, line: int | None, field: str | None, words: list[str]) -> str:
    """Exit status 2, no traceback, one short ``error:`` line with file[:line]: field: message."""
    assert result.code == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    message = lines[0]
    assert len(message) <= MAX_ERROR_CHARS, message
    where = f"{path}:{line}: " if line is not None else f"{path}: "
    assert message.startswith(f"error: {where}"), message
    if field is not None:
        assert message.startswith(f"error: {where}{field}: "), message
    for word in words:
        assert word in message, (word, message)
    return message


@pytest.mark.parametrize("case", BAD, ids=[b.id for b in BAD])
def test_malformed_study_is_one_located_error(cli, tmp_path, case):
    marker = tmp_path / "executed"
    path = tmp_path / case.name
    if isinstance(case.text, bytes):
        path.write_bytes(case.text)
    else:
        path.write_text(case.text.replace("{marker}", str(marker)), encoding="utf-8")
    result = cli("validate", str(path), timeout=SUBPROCESS_TIMEOUT)
    check_error(result, path, line=case.expected_line(), field=case.field_path, words=case.words)
    assert not marker.exists()  # no YAML tag ran anything


def test_the_base_study_is_valid(cli, tmp_path):
    """The control: the cases above fail for their one defect, not for the rest of the file."""
    path = tmp_path / "study.yaml"
    path.write_text(GOOD)
    result = cli("validate", str(path), env=WIDE, timeout=SUBPROCESS_TIMEOUT)
    assert result.code == 0, result.stderr
    assert "grid 72 configs" in result.stdout  # n_layers 3 x units 3 x (adam + sgd x 3 momenta) x batch_size 2


def test_missing_file(cli, tmp_path):
    path = tmp_path / "nope.yaml"
    result = cli("validate", str(path), timeout=SUBPROCESS_TIMEOUT)
    check_error(result, path, line=None, field=None, words=["file does not exist"])


def test_directory(cli, tmp_path):
    result = cli("validate", str(tmp_path), timeout=SUBPROCESS_TIMEOUT)
    check_error(result, tmp_path, line=None, field=None, words=["is a directory"])


def test_five_megabyte_file_is_refused_without_reading_it(cli, tmp_path):
    path = tmp_path / "huge.yaml"
    path.write_text(GOOD + ("# padding padding padding padding padding padding padding\n" * 100_000))
    assert path.stat().st_size > 5 * 1024 * 1024
    result = cli("validate", str(path), timeout=SUBPROCESS_TIMEOUT)  # a hang fails with TimeoutExpired
    check_error(result, path, line=None, field=None, words=["MiB", "limited to 1024 KiB"])


def test_python_tag_at_the_top_runs_nothing(cli, tmp_path):
    marker = tmp_path / "executed"
    path = tmp_path / "evil.yaml"
    path.write_text(f'!!python/object/apply:os.system ["touch {marker}"]\n')
    result = cli("validate", str(path), timeout=SUBPROCESS_TIMEOUT)
    check_error(result, path, line=1, field=None, words=["unsupported YAML tag"])
    assert not marker.exists()


# --- valid files ------------------------------------------------------------------------


def test_every_shipped_study_validates(cli):
    assert STUDY_FILES, "no studies/*.yaml"
    import spaces
    from search.spec import load_study

    result = cli("validate", *map(str, STUDY_FILES), env=WIDE, timeout=SUBPROCESS_TIMEOUT)
    assert result.code == 0, result.stderr
    assert result.stderr.strip() == ""
    headers = [line for line in result.stdout.splitlines()
               if all(col in line for col in ("name", "kind", "range / choices", "scale", "condition"))]
    assert len(headers) == len(STUDY_FILES)
    for path in STUDY_FILES:
        s = load_study(path)
        assert squash(f"{path}: study '{s.name}'") in squash(result.stdout)
        for param in s.space:
            assert param.name in result.stdout
            assert param.kind in result.stdout
        points = s.spec.grid.points
        size = len(list(spaces.iter_grid(s.space, points)))
        assert f"grid {size} configs at {points} points per range" in result.stdout


def test_digits_table_and_grid_size(cli):
    result = cli("validate", str(STUDIES / "digits_mlp.yaml"), env=WIDE, timeout=SUBPROCESS_TIMEOUT)
    assert result.code == 0, result.stderr
    rows = table_rows(result.stdout)
    assert "log" in rows["units"] and "per layer of n_layers" in rows["units"]
    assert "[0.0001, 0.03]" in rows["learning_rate"] and "log" in rows["learning_rate"]
    assert "optimizer = sgd" in rows["momentum"]
    assert "fixed" in rows["epochs"] and "30" in rows["epochs"]
    # n_layers 3 x units 3 x activation 3 x dropout 3 x l2 3 x learning_rate 3 x batch_size 3
    # x (adam + rmsprop + sgd with 3 momenta)
    assert f"grid {3 ** 7 * 5} configs at 3 points per range" in result.stdout


def test_yaml_1_2_numbers_and_strings_validate(cli, tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text(study("""
        learning_rate: {type: float, low: 1e-4, high: 1e-1, log: true}
        shuffle: [yes, no]
    """, head=BUILDER))
    result = cli("validate", str(path), env=WIDE, timeout=SUBPROCESS_TIMEOUT)
    assert result.code == 0, result.stderr
    rows = table_rows(result.stdout)
    assert "[0.0001, 0.1]" in rows["learning_rate"]
    assert "yes, no" in rows["shuffle"]
    assert "categorical" in rows["shuffle"]


@pytest.mark.parametrize("suffix", ["toml", "json"])
def test_toml_and_json_studies_validate(cli, tmp_path, suffix):
    space = {
        "n_layers": {"type": "int", "low": 1, "high": 3},
        "units": {"type": "int", "low": 16, "high": 256, "log": True, "per_layer": "n_layers"},
        "optimizer": ["adam", "sgd"],
        "momentum": {"type": "float", "low": 0.0, "high": 0.9, "when": {"optimizer": "sgd"}},
    }
    path = tmp_path / f"study.{suffix}"
    if suffix == "json":
        path.write_text(json.dumps({"name": "t", "space": space, "search": {"timeout": "20m"}}))
    else:
        path.write_text(textwrap.dedent("""\
            name = "t"
            [search]
            timeout = "20m"
            [space]
            n_layers = {type = "int", low = 1, high = 3}
            units = {type = "int", low = 16, high = 256, log = true, per_layer = "n_layers"}
            optimizer = ["adam", "sgd"]
            momentum = {type = "float", low = 0.0, high = 0.9, when = {optimizer = "sgd"}}
        """))
    result = cli("validate", str(path), env=WIDE, timeout=SUBPROCESS_TIMEOUT)
    assert result.code == 0, result.stderr
    for name in space:
        assert name in result.stdout
    # n_layers 3 x units 3 x (adam + sgd x 3 momenta)
    assert "grid 36 configs" in result.stdout


def test_one_bad_file_among_good_ones(cli, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(study("n_layers: {type: int, low: 5, high: 3}\n"))
    good = STUDY_FILES[0]
    result = cli("validate", str(good), str(bad), timeout=SUBPROCESS_TIMEOUT)
    assert result.code == 2
    assert "Traceback" not in result.stderr
    check_error(result, bad, line=3, field="space.n_layers.low", words=["`low <= high` must hold"])
    assert squash(f"{good}: study '") in squash(result.stdout)  # the good file was still shown


def test_validate_without_files_is_a_usage_error(cli):
    result = cli("validate", timeout=SUBPROCESS_TIMEOUT)
    assert result.code == 2
    assert "Traceback" not in result.stderr
    assert "Missing argument" in result.stderr


# --- the command line itself ------------------------------------------------------------


def test_validate_imports_no_heavy_library():
    code = textwrap.dedent(
        f"""
        import json, sys
        from search.cli import main
        codes = []
        for path in {[str(p) for p in STUDY_FILES]!r}:
            try:
                main(["validate", path])
            except SystemExit as exc:
                codes.append(exc.code)
            else:
                codes.append(0)
        heavy = sorted(m for m in sys.modules if m.startswith(("tensorflow", "keras", "mlflow", "sklearn")))
        print(json.dumps({{"codes": codes, "heavy": heavy}}))
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=SUBPROCESS_TIMEOUT
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["codes"] == [0] * len(STUDY_FILES), proc.stderr
    assert report["heavy"] == []


def test_help_exits_zero():
    script = Path(sys.executable).with_name("tuneforge")
    assert script.exists(), "the tuneforge console script is not installed"
    proc = subprocess.run([str(script), "--help"], cwd=ROOT, capture_output=True, text=True,
                          timeout=SUBPROCESS_TIMEOUT)
    assert proc.returncode == 0, proc.stderr
    assert "validate" in proc.stdout
    assert "Traceback" not in proc.stderr

