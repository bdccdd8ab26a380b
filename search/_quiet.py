"""Import TensorFlow without the C++ start-up chatter (absl, oneDNN, CUDA probes) on stderr."""

from __future__ import annotations

import os
import sys
import tempfile


def import_tensorflow_quietly() -> None:
    """Import TensorFlow and Keras with stderr silenced at the file-descriptor level.

    What TensorFlow printed is shown after all if the import fails.
    """
    if "tensorflow" in sys.modules:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            import keras  # noqa: F401
            import tensorflow

            # The device probe logs at ERROR level when there is no usable GPU (with CUDA_VISIBLE_DEVICES=-1:
            # "failed call to cuInit"), which TF_CPP_MIN_LOG_LEVEL=2 lets through. Listing the devices runs
            # it here, inside the quiet window, instead of at the first operation. It does not start
            # TensorFlow's runtime: thread counts and memory limits can still be set afterwards.
            tensorflow.config.list_physical_devices()
        except BaseException:
            os.dup2(saved, 2)
            sink.seek(0)
            sys.stderr.write(sink.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def quiet_libraries() -> None:
    """Keep MLflow's and Alembic's INFO chatter (schema creation, migrations) off the console."""
    import logging

    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")  # MLflow sets its level from this at import
    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)
