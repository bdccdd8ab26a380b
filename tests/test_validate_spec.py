"""The study schema in-process: more malformed studies, each one located error (no subprocess).

test_validate_cli.py runs the required cases through the real ``tuneforge validate``; the
CLI prints ``error: `` + ``str(exc)`` for any TuneforgeError, so the message checked here is
the line a user sees.
"""

from __future__ import annotations

import math

import pytest
from test_validate_cli import BUILDER, GOOD, SPACE, Bad, study

from search.spec import load_study, parse_duration, study_from_dict
from spaces import SourceError, SpecError, TuneforgeError

MORE_BAD = [
    Bad("dropout_high", study("""
        dropout:
          type: float
          low: 0.0
          high: 1.0  # <-
    """), "space.dropout.high", ["a number in [0, 1)", "allows 1.0"]),
    Bad("activation_unknown", study("""
        activation: [relu, tanh, rleu]  # <-
    """), "space.activation.choices[2]", ["one of relu, tanh", "allows 'rleu'"]),
    Bad("units_as_float", study("""
        units: {type: float, low: 16, high: 256}  # <-
    """), "space.units.type", ["declare it as type: int"]),
    Bad("unknown_parameter", study("""
        dropuot: {type: float, low: 0.0, high: 0.5}  # <-
    """), "space.dropuot", ["not a parameter the built-in models use", "did you mean 'dropout'?"]),
    Bad("searched_and_fixed", study("""
        n_layers: {type: int, low: 1, high: 3}
    """, """
        fixed:
          n_layers: 2  # <-
    """), "fixed.n_layers", ["both searched (space) and fixed"]),
    Bad("fixed_list", study("""
        n_layers: {type: int, low: 1, high: 3}
    """, """
        fixed:
          epochs: [1, 2]  # <-
    """), "fixed.epochs", ["valid string", "got list"]),
    Bad("misspelt_search_key", study(SPACE, """
        search:
          trails: 5  # <-
    """), "search.trails", ["unknown key 'trails'", "did you mean 'trials'?"]),
    Bad("metric_wrong_for_task", study(SPACE, """
        data: {dataset: diabetes}
        objective:
          metric: val_accuracy  # <-
    """), "objective.metric", ["regression models report val_loss, val_rmse, val_mae"]),
    Bad("timeout_infinite", study(SPACE, """
        search:
          timeout: .inf  # <-
    """), "search.timeout", ["positive, finite duration"]),
    Bad("folds_one", study(SPACE, """
        data:
          validation:
            folds: 1  # <-
    """), "data.validation.folds", ["greater than or equal to 2"]),
    Bad("validation_fraction", study(SPACE, """
        data:
          validation: 1.5  # <-
    """), "data.validation", ["must lie in (0, 1)"]),
    Bad("no_space", "name: t\ndata: {dataset: digits}\n", "space", ["is required"]),
    Bad("unknown_extension", GOOD, None, ["unknown extension '.txt'"], name="study.txt"),
    Bad("json_syntax", '{"name": "t",\n "space": {\n}', None, ["is not valid JSON"], name="study.json", line=3),
    Bad("model_unknown", study(SPACE, """
        model: cnn  # <-
    """), "model", ["input should be 'mlp' or 'wide_deep'", "'cnn'"]),
    Bad("gpu_not_an_int", study(SPACE, """
        resources:
          gpus: [0, a]  # <-
    """), "resources.gpus[1]", ["valid integer", "'a'"]),
    Bad("file_dataset_without_source", study(SPACE, """
        data:
          dataset: {path: x.csv}  # <-
    """), "data.dataset", ["needs a `csv` or `npz` key"]),
    Bad("csv_without_target", study(SPACE, """
        data:
          dataset: {csv: x.csv}  # <-
    """), "data.dataset.target", ["is required"]),
    Bad("direction_against_metric", study(SPACE, """
        data: {dataset: diabetes}
        objective:
          metric: val_rmse
          direction: maximize  # <-
    """), "objective.direction", ["val_rmse should be minimized"]),
    Bad("builder_not_dotted", study(SPACE, """
        model:
          builder: my_models.build  # <-
    """), "model.builder", ["'package.module:function'"]),
    Bad("middle_first_with_keras_tuner", study(SPACE, """
        search:
          engine: keras_tuner
          first_trial: middle  # <-
    """), "search.first_trial", ["cannot start from the space's middle", "Keras Tuner's oracles",
                                 "first_trial: sampled"]),
    Bad("middle_first_with_a_grid", study(SPACE, """
        search:
          algorithm: grid
          first_trial: middle  # <-
    """), "search.first_trial", ["a grid visits its points in order"]),
    Bad("first_trial_unknown", study(SPACE, """
        search:
          first_trial: centre  # <-
    """), "search.first_trial", ["'middle' or 'sampled'", "'centre'"]),
    Bad("per_layer_huge_clash", study("""
        n_layers: {type: int, low: 1, high: 1000000000}
        units: {type: int, low: 16, high: 256, per_layer: n_layers}  # <-
        units_999999: {type: int, low: 1, high: 2}
    """, head=BUILDER), "space.units.per_layer", ["'units_999999' clashes"]),
]


@pytest.mark.parametrize("case", MORE_BAD, ids=[b.id for b in MORE_BAD])
def test_malformed_study_names_file_line_and_field(tmp_path, case):
    path = tmp_path / case.name
    path.write_text(case.text, encoding="utf-8")
    with pytest.raises(TuneforgeError) as info:
        load_study(path)
    message = str(info.value)
    line = case.expected_line()
    where = f"{path}:{line}: " if line is not None else f"{path}: "
    assert message.startswith(where + (f"{case.field_path}: " if case.field_path else "")), message
    for word in case.words:
        assert word in message, (word, message)
    assert "\n" not in message


def test_errors_are_located_without_a_file():
    with pytest.raises(SpecError) as info:
        study_from_dict({"name": "t", "space": {"n_layers": {"type": "int", "low": 3, "high": 1}}})
    assert str(info.value).startswith("space.n_layers.low: `low <= high` must hold")
    assert info.value.line is None


def test_a_study_keeps_its_space_fixed_values_and_objective(tmp_path):
    path = tmp_path / "ok.yaml"
    path.write_text(study(SPACE, """
        data: {dataset: diabetes}
        fixed: {epochs: 3}
        search: {timeout: 1h30m}
    """))
    s = load_study(path)
    assert s.name == "t"
    assert s.task == "regression"
    assert (s.metric, s.direction) == ("val_loss", "minimize")  # defaults from the dataset's task
    assert s.spec.search.timeout == 5400.0
    assert s.space["epochs"].value == 3
    assert set(s.space.names) == {"n_layers", "units", "optimizer", "momentum", "batch_size", "epochs"}


@pytest.mark.parametrize(
    ("text", "seconds"),
    [(90, 90.0), (1.5, 1.5), ("90s", 90.0), ("20m", 1200.0), ("1h30m", 5400.0), ("2h", 7200.0),
     (" 1h 30m 15s ", 5415.0), ("0.5h", 1800.0), (None, None)],
)
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["5 minutes", "", "1d", "m", "-5", 0, -1, "0s", True, math.inf, math.nan])
def test_bad_durations(text):
    with pytest.raises(ValueError):
        parse_duration(text)


def test_source_errors_are_tuneforge_errors(tmp_path):
    with pytest.raises(SourceError):
        load_study(tmp_path / "missing.yaml")


@pytest.mark.parametrize(("search", "first"), [
    ({}, "middle"), ({"algorithm": "random"}, "middle"), ({"first_trial": "sampled"}, "sampled"),
    ({"algorithm": "grid"}, "sampled"), ({"engine": "keras_tuner"}, "sampled"),
])
def test_optunas_samplers_start_from_the_middle_unless_told_otherwise(search, first):
    spec = study_from_dict({"name": "t", "space": {"n_layers": {"type": "int", "low": 1, "high": 3}},
                            "search": search}).spec
    assert spec.search.first_trial == first
