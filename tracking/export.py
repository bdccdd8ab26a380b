"""Export a trained model: ``saved_model/``, ``model.keras`` and ``model_card.json``, atomically.

The export is written to a temporary directory beside the target and swapped in
whole, so an interrupted export never leaves a half model where a complete one was.
Only a folder tuneforge wrote itself (its marker file) is ever replaced: see
:mod:`tracking._target`.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from tracking._atomic import recover, replace_directory
from tracking._target import MARKER, check_export_target
from tracking._versions import package_versions

SAVED_MODEL = "saved_model"
KERAS_FILE = "model.keras"
CARD_FILE = "model_card.json"


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


def export_model(model: Any, directory: str | Path, *, card: Mapping[str, Any]) -> Path:
    """Write the model and its card to ``directory`` (replacing a previous export whole).

    Refuses (:class:`~tracking._target.ExportPathError`) a path holding anything but a previous export.
    """
    target = check_export_target(directory)
    target.parent.mkdir(parents=True, exist_ok=True)
    recover(target)
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}")
    try:
        tmp.mkdir()
        model.export(str(tmp / SAVED_MODEL), format="tf_saved_model", verbose=False)
        model.save(tmp / KERAS_FILE)
        full_card = {
            "exported_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "files": {"saved_model": SAVED_MODEL, "keras": KERAS_FILE},
            "serving": "tf.saved_model.load(DIR/saved_model).signatures['serving_default'](features=x)",
            **_plain(dict(card)),
            "package_versions": package_versions(),
        }
        (tmp / CARD_FILE).write_text(json.dumps(full_card, indent=2, sort_keys=False))
        (tmp / MARKER).write_text("written by tuneforge export; this folder is replaced whole by the next export\n")
        check_export_target(target)  # again: the folder may have changed while the model was saved
        replace_directory(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def read_card(directory: str | Path) -> dict[str, Any]:
    """The model card of an export."""
    return json.loads((Path(directory) / CARD_FILE).read_text())


def load_serving(directory: str | Path) -> Any:
    """The SavedModel's serving function: call it with a float32 batch of raw features."""
    import tensorflow as tf

    loaded = tf.saved_model.load(str(Path(directory) / SAVED_MODEL))
    signature = loaded.signatures["serving_default"]
    (input_name,) = signature.structured_input_signature[1].keys()

    def predict(x: np.ndarray) -> np.ndarray:
        outputs = signature(**{input_name: tf.constant(np.asarray(x, dtype=np.float32))})
        return next(iter(outputs.values())).numpy()

    predict.loaded = loaded  # keep the object (and its variables) alive
    return predict
