"""tracking.export: the exported files, serving from a fresh process, and atomic replacement.

A digits model is trained once for the module. Exports are checked by loading them
back (SavedModel and ``.keras``), in this process and in a fresh one; exports killed
with SIGKILL at several moments must leave the previous complete model in place.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from search.data import load_data
from search.models import build_model
from search.states import TrialState
from search.training import evaluate, train_config
from tracking import _atomic
from tracking._target import MARKER, ExportPathError
from tracking.export import CARD_FILE, KERAS_FILE, SAVED_MODEL, export_model, load_serving, read_card

keras = pytest.importorskip("keras")

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
FILES = {SAVED_MODEL, KERAS_FILE, CARD_FILE, MARKER}


@pytest.fixture(scope="module")
def digits():
    return load_data("digits")


@pytest.fixture(scope="module")
def model_a(digits):
    """A trained digits model, its test metrics and its card."""
    config = {"n_layers": 1, "units": 32, "epochs": 3, "patience": 0, "batch_size": 64, "learning_rate": 0.01}
    result = train_config(config, digits, seed=0, keep_model=True)
    assert result.state is TrialState.COMPLETE, result.error
    test = evaluate(result.model, digits.x_test, digits.y_test)
    assert test["accuracy"] > 0.5
    card = {"name": "A", "config": config, "metrics": {"test": test}, "n_params": np.int64(result.n_params),
            "objective": np.float32(result.objective), "class_names": list(digits.info.class_names)}
    return result.model, card


@pytest.fixture(scope="module")
def model_b(digits):
    """Another digits model (untrained, larger so its export takes a while), with a different card."""
    keras.utils.set_random_seed(1)
    info = digits.info
    model = build_model("mlp", {"n_layers": 3, "units": 1024}, task=info.task, input_shape=info.input_shape,
                        n_outputs=info.n_outputs)
    return model, {"name": "B"}


@pytest.fixture(scope="module")
def predictions(digits, model_a, model_b):
    """What each model predicts on the test rows, by card name."""
    return {card["name"]: model.predict(digits.x_test, verbose=0) for model, card in (model_a, model_b)}


def leftovers(target: Path) -> list[str]:
    return sorted(p.name for p in target.parent.iterdir() if p.name.startswith(f".{target.name}."))


def assert_complete_export(target: Path, x: np.ndarray, predictions: dict[str, np.ndarray]) -> str:
    """``target`` holds one whole export: its card, SavedModel and .keras agree; returns the card's name."""
    assert {p.name for p in target.iterdir()} == FILES
    name = read_card(target)["name"]
    expected = predictions[name]
    np.testing.assert_allclose(load_serving(target)(x), expected, atol=1e-5)
    reloaded = keras.saving.load_model(target / KERAS_FILE)
    np.testing.assert_allclose(reloaded.predict(x, verbose=0), expected, atol=1e-5)
    return name


# ---------------------------------------------------------------- what an export holds

def test_export_writes_saved_model_keras_file_and_card(model_a, tmp_path):
    model, card = model_a
    target = export_model(model, tmp_path / "models" / "digits", card=card)
    assert target == (tmp_path / "models" / "digits").resolve()
    assert {p.name for p in target.iterdir()} == FILES
    assert (target / SAVED_MODEL / "saved_model.pb").is_file()
    assert leftovers(target) == []
    written = read_card(target)
    assert written == json.loads((target / CARD_FILE).read_text())
    assert written["name"] == "A" and written["config"] == card["config"]
    assert written["metrics"]["test"] == card["metrics"]["test"]
    assert written["n_params"] == model.count_params() and isinstance(written["n_params"], int)
    assert written["objective"] == pytest.approx(float(card["objective"]))
    assert written["files"] == {"saved_model": SAVED_MODEL, "keras": KERAS_FILE}
    assert time.strptime(written["exported_at"], "%Y-%m-%dT%H:%M:%SZ")
    versions = written["package_versions"]
    assert versions["tensorflow"] and versions["keras"] == keras.__version__ and versions["python"]


def test_keras_file_loads_and_scores_like_the_model(model_a, digits, predictions, tmp_path):
    model, card = model_a
    target = export_model(model, tmp_path / "out", card=card)
    reloaded = keras.saving.load_model(target / KERAS_FILE)
    np.testing.assert_allclose(reloaded.predict(digits.x_test, verbose=0), predictions["A"], atol=1e-6)
    again = evaluate(reloaded, digits.x_test, digits.y_test)
    assert again["accuracy"] == pytest.approx(card["metrics"]["test"]["accuracy"], abs=1e-6)
    assert [layer.name for layer in reloaded.layers] == [layer.name for layer in model.layers]


SERVE = """
import json, sys
import numpy as np
from tracking.export import load_serving, read_card

directory, data, out = sys.argv[1:4]
arrays = np.load(data)
predict = load_serving(directory)
probabilities = predict(arrays["x"])
np.save(out, probabilities)

# the recipe the card gives, spelled out
import tensorflow as tf
card = read_card(directory)
loaded = tf.saved_model.load(directory + "/" + card["files"]["saved_model"])
outputs = loaded.signatures["serving_default"](features=tf.constant(arrays["x"]))
recipe = next(iter(outputs.values())).numpy()
print(json.dumps({
    "accuracy": float(np.mean(np.argmax(probabilities, axis=1) == arrays["y"])),
    "recorded": card["metrics"]["test"]["accuracy"],
    "recipe_matches": bool(np.allclose(recipe, probabilities, atol=1e-7)),
    "modules": sorted(m for m in ("search.training", "search.models") if m in sys.modules),
}))
"""


def test_saved_model_reproduces_the_test_accuracy_in_a_fresh_process(model_a, digits, predictions, tmp_path):
    model, card = model_a
    target = export_model(model, tmp_path / "served", card=card)
    data = tmp_path / "test.npz"
    np.savez(data, x=digits.x_test, y=digits.y_test)
    script = tmp_path / "serve.py"
    script.write_text(SERVE)
    out = tmp_path / "probabilities.npy"
    proc = subprocess.run([sys.executable, str(script), str(target), str(data), str(out)], cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["recorded"] == card["metrics"]["test"]["accuracy"]
    assert abs(report["accuracy"] - report["recorded"]) <= 1e-4
    assert report["recipe_matches"]
    assert report["modules"] == []  # serving needs neither tuneforge's trainer nor its models
    served = np.load(out)
    assert served.shape == (len(digits.x_test), 10)
    np.testing.assert_allclose(served.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(served, predictions["A"], atol=1e-5)


def test_tabular_export_serves_raw_features(tmp_path):
    """Standardization travels inside the SavedModel: raw rows in, the trained model's outputs out."""
    cancer = load_data("breast_cancer")
    result = train_config({"n_layers": 1, "units": 8, "epochs": 1, "patience": 0}, cancer, metric="val_auc",
                          keep_model=True)
    target = export_model(result.model, tmp_path / "cancer", card={"name": "cancer"})
    served = load_serving(target)(cancer.x_test)
    np.testing.assert_allclose(served, result.model.predict(cancer.x_test, verbose=0), atol=1e-6)
    assert served.shape == (len(cancer.x_test), 1) and ((served >= 0) & (served <= 1)).all()


# ---------------------------------------------------------------- replacing an export

def test_second_export_replaces_the_first_whole(model_a, model_b, digits, predictions, tmp_path):
    target = export_model(model_a[0], tmp_path / "m", card=model_a[1])
    (target / SAVED_MODEL / "assets" / "extra").mkdir(parents=True)  # inside what the export wrote: replaced
    export_model(model_b[0], target, card=model_b[1])
    assert assert_complete_export(target, digits.x_test, predictions) == "B"
    assert not (target / SAVED_MODEL / "assets" / "extra").exists()
    assert leftovers(target) == []


def test_a_user_file_beside_an_export_is_never_replaced(model_a, model_b, digits, predictions, tmp_path):
    target = export_model(model_a[0], tmp_path / "m", card=model_a[1])
    (target / "notes.txt").write_text("mine")
    with pytest.raises(ExportPathError, match="notes.txt"):
        export_model(model_b[0], target, card=model_b[1])
    assert (target / "notes.txt").read_text() == "mine" and read_card(target)["name"] == "A"
    assert leftovers(target) == []


def test_export_failing_midway_keeps_the_previous_export(model_a, model_b, digits, predictions, tmp_path,
                                                         monkeypatch):
    target = export_model(model_a[0], tmp_path / "m", card=model_a[1])
    model = model_b[0]

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(model, "save", full_disk)
    with pytest.raises(OSError, match="No space left"):
        export_model(model, target, card=model_b[1])
    assert assert_complete_export(target, digits.x_test, predictions) == "A"
    assert leftovers(target) == []


def test_replace_without_renameat2_and_recovery_after_a_crash_between_renames(model_a, digits, predictions,
                                                                               tmp_path, monkeypatch):
    """The portable path: old export moved aside, new one renamed in; a crash in between is undone."""
    target = export_model(model_a[0], tmp_path / "m", card=model_a[1])
    monkeypatch.setattr(_atomic, "_exchange", lambda a, b: False)
    new = tmp_path / "new"
    shutil.copytree(target, new)
    (new / "marker").write_text("new")
    _atomic.replace_directory(new, target)
    assert (target / "marker").exists() and not new.exists() and leftovers(target) == []
    # a crash right after `target -> .target.old`: the next export (or recover) puts it back
    os.rename(target, target.with_name(f".{target.name}.old"))
    _atomic.recover(target)
    assert (target / "marker").exists() and leftovers(target) == []
    (target / "marker").unlink()
    assert assert_complete_export(target, digits.x_test, predictions) == "A"


def test_stale_temp_dirs_are_removed_but_a_live_export_is_left_alone(model_a, tmp_path):
    target = tmp_path / "m"
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    finished = subprocess.Popen([sys.executable, "-c", "pass"])
    finished.wait()
    try:
        live = tmp_path / f".m.tmp-{sleeper.pid}-0123abcd"
        dead = tmp_path / f".m.tmp-{finished.pid}-4567abcd"
        odd = tmp_path / ".m.tmp-garbage"
        for folder in (live, dead, odd):
            (folder / SAVED_MODEL).mkdir(parents=True)
        export_model(model_a[0], target, card=model_a[1])
        assert leftovers(target) == [live.name]
        assert read_card(target)["name"] == "A"
    finally:
        sleeper.kill()
        sleeper.wait()
    export_model(model_a[0], target, card=model_a[1])
    assert leftovers(target) == []


# ---------------------------------------------------------------- kill -9 in the middle of an export

# The exporter imports TensorFlow once (6-10 s on two cores) and forks a child per export, which
# loads model B and exports it; the child is what gets SIGKILL. The parent runs no TensorFlow op
# before forking, so the children start from a clean runtime.
EXPORTER = """
import os, sys, traceback
import keras
from tracking.export import export_model

print("ready", flush=True)
while line := sys.stdin.readline():
    model_file, target = line.split()
    pid = os.fork()
    if pid == 0:
        try:
            export_model(keras.saving.load_model(model_file), target, card={"name": "B"})
            os._exit(0)
        except BaseException:
            traceback.print_exc()
            os._exit(1)
    print("pid", pid, flush=True)
    sys.stdin.readline()  # reaped only when told: until then the pid cannot name another process
    print("status", os.waitpid(pid, 0)[1], flush=True)
"""


def _temp_dirs(target: Path) -> list[Path]:
    try:
        return [target.parent / e.name for e in os.scandir(target.parent) if e.name.startswith(f".{target.name}.tmp-")]
    except FileNotFoundError:
        return []


def _card_name(target: Path) -> str | None:
    try:
        return json.loads((target / CARD_FILE).read_text())["name"]
    except (OSError, ValueError, KeyError):
        return None


# when to kill the exporting process: a test on the target's folder
MOMENTS = {
    "temp dir appears": lambda target, tmps: bool(tmps),
    "SavedModel variables being written": lambda target, tmps: any((t / SAVED_MODEL / "variables").exists()
                                                                   for t in tmps),
    "model.keras being written": lambda target, tmps: any((t / KERAS_FILE).exists() for t in tmps),
    "card written, before the swap": lambda target, tmps: any((t / CARD_FILE).exists() for t in tmps),
    "right after the swap": lambda target, tmps: _card_name(target) == "B",
}


def test_export_killed_at_any_moment_leaves_a_complete_model(model_a, model_b, digits, predictions, tmp_path):
    b_file = tmp_path / "b.keras"
    model_b[0].save(b_file)
    script = tmp_path / "exporter.py"
    script.write_text(EXPORTER)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
    exporter = subprocess.Popen([sys.executable, str(script)], cwd=ROOT, env=env, stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def said(word: str) -> int | None:
        line = exporter.stdout.readline().split()
        if line[:1] != [word]:
            exporter.kill()
            pytest.fail(f"the exporter said {line!r}, not {word!r}: {exporter.stderr.read()[-3000:]}")
        return int(line[1]) if len(line) > 1 else None

    outcomes = {}
    try:
        said("ready")
        for i, (moment, hit) in enumerate(MOMENTS.items()):
            target = export_model(model_a[0], tmp_path / f"target{i}" / "model", card=model_a[1])
            exporter.stdin.write(f"{b_file} {target}\n")
            exporter.stdin.flush()
            child = said("pid")
            deadline = time.monotonic() + 120
            while not hit(target, _temp_dirs(target)):
                if time.monotonic() > deadline:
                    os.kill(child, signal.SIGKILL)
                    exporter.kill()
                    pytest.fail(f"the export never reached {moment!r}")
                time.sleep(0.0002)
            os.kill(child, signal.SIGKILL)  # a no-op on a child that already finished (a zombie until reaped)
            exporter.stdin.write("reap\n")
            exporter.stdin.flush()
            status = said("status")
            state = "killed" if os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL else (
                "finished first" if status == 0 else f"failed ({status})")
            name = assert_complete_export(target, digits.x_test, predictions)
            outcomes[moment] = (state, name, len(_temp_dirs(target)))
    finally:
        if exporter.poll() is None:
            exporter.kill()
        exporter.wait()
        for stream in (exporter.stdin, exporter.stdout, exporter.stderr):
            stream.close()
    print("\nkill moments (state, model in target, temp dirs left):", *outcomes.items(), sep="\n  ")
    # every kill left one whole model (checked above); the earliest certainly fell before the swap
    # (half a second of export ahead), the later ones did too unless this process was descheduled
    assert outcomes["temp dir appears"] == ("killed", "A", 1), outcomes["temp dir appears"]
    assert sum(outcome == ("killed", "A", 1) for outcome in outcomes.values()) >= 3, outcomes
    assert outcomes["right after the swap"][:2] in {("killed", "B"), ("finished first", "B")}
    # the next export clears what the killed ones left behind and lands whole
    for i in range(len(MOMENTS)):
        target = export_model(model_a[0], tmp_path / f"target{i}" / "model", card=model_a[1])
        assert _temp_dirs(target) == [] and read_card(target)["name"] == "A"
