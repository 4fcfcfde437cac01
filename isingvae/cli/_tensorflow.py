"""TensorFlow for the command line, with its start-up chatter silenced (the one place).

TensorFlow's C++ start-up lines (oneDNN, CUDA probing) go straight to file descriptor 2
before any logging is configured, so the descriptor itself points at /dev/null during
the import and the device discovery; Python exceptions still propagate.  Retracing
hints (one trace per loaded model) are for developers, not for someone reading a run's
progress, so TensorFlow's logger is set to errors.  Library users see TensorFlow as it
is; only the commands call :func:`import_quietly`.
"""

from __future__ import annotations

import os
import sys

__all__ = ["import_quietly"]


def import_quietly() -> None:
    """Import TensorFlow (once) with its start-up messages muted."""
    if "tensorflow" in sys.modules:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        import tensorflow as tf

        tf.config.list_logical_devices()
        tf.get_logger().setLevel("ERROR")
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
