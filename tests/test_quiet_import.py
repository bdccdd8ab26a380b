"""TensorFlow's start-up chatter stays off the console, and the import leaves TensorFlow configurable."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CODE = """
import sys
from search._quiet import import_tensorflow_quietly
import_tensorflow_quietly()
import tensorflow as tf
tf.config.threading.set_intra_op_parallelism_threads(1)  # raises once TensorFlow's runtime has started
print(float(tf.constant(1.0) + 1.0), tf.config.threading.get_intra_op_parallelism_threads())
"""


def test_a_cpu_only_process_prints_no_device_probe_error_and_can_still_set_threads():
    # CUDA_VISIBLE_DEVICES=-1 (how users force the CPU) makes TensorFlow's device probe log
    # "failed call to cuInit" at ERROR level, which TF_CPP_MIN_LOG_LEVEL=2 does not hide.
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "-1", "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, env=env, timeout=300,
                          check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split() == ["2.0", "1"]
    assert proc.stderr == "", proc.stderr[-2000:]
