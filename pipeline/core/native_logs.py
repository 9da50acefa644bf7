"""Silencing what native libraries (TensorFlow, LiteRT) print at start-up. It imports nothing of the
project, and nothing heavy."""

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

# TensorFlow's C++ start-up chatter hides the progress lines users care about.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

_hidden_stderr: int | None = None  # the real stderr while `quiet_native_logs` hides it


@contextmanager
def quiet_native_logs() -> Iterator[None]:
    """Silence what native code writes to stderr meanwhile.

    TensorFlow's and LiteRT's C++ start-up messages ("All log messages before
    absl::InitializeLog()...", oneDNN, XNNPACK) ignore TF_CPP_MIN_LOG_LEVEL and would bury
    the progress lines and one-line errors users read. Python exceptions still propagate.
    """
    global _hidden_stderr
    sys.stderr.flush()
    saved = _hidden_stderr = os.dup(2)
    try:
        with open(os.devnull, "wb") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        _hidden_stderr = None
        os.dup2(saved, 2)
        os.close(saved)


def stderr_fd() -> int:
    """The file descriptor of the real stderr, also while `quiet_native_logs` hides it."""
    return 2 if _hidden_stderr is None else _hidden_stderr
