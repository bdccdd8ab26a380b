"""Inside a worker process: apply the slot's GPU memory limit, or fall back to the CPU cleanly."""

from __future__ import annotations

import os
import sys
from collections.abc import MutableMapping
from typing import Any


def configure_device(tf: Any, env: MutableMapping[str, str] | None = None) -> str:
    """Give TensorFlow the slot's memory limit (``TUNEFORGE_GPU_MEMORY_MB``); returns the device trials use.

    A slot planned for a GPU that TensorFlow cannot see (no driver, CPU-only build) trains
    on the CPU: one ``note:`` line in the worker log, and ``TUNEFORGE_DEVICE`` becomes
    ``cpu`` so the trials' MLflow tags say where they really ran.
    """
    env = os.environ if env is None else env
    planned = env.get("TUNEFORGE_DEVICE", "cpu")
    if not planned.startswith("gpu"):
        return "cpu"
    slot = env.get("TUNEFORGE_SLOT", "?")
    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        print(f"note: slot {slot} was planned for {planned} but TensorFlow sees no GPU; training on the CPU",
              file=sys.stderr, flush=True)
        env["TUNEFORGE_DEVICE"] = "cpu"
        return "cpu"
    limit = env.get("TUNEFORGE_GPU_MEMORY_MB")
    if limit:
        try:
            tf.config.set_logical_device_configuration(
                gpus[0], [tf.config.LogicalDeviceConfiguration(memory_limit=int(limit))])
        except RuntimeError:  # TensorFlow already started its devices (in-process use): keep them
            print(f"note: slot {slot}: TensorFlow already started, memory limit {limit} MB not applied",
                  file=sys.stderr, flush=True)
    return planned
