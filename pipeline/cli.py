"""The edge every stage's `main()` runs behind: one-line errors, clean interruption."""

import argparse
import os
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager


class PipelineError(Exception):
    """Bad input a user can fix: params, data files, model files. Printed as one line."""


@contextmanager
def quiet_native_logs() -> Iterator[None]:
    """Silence what native code writes to stderr meanwhile.

    TensorFlow's and LiteRT's C++ start-up messages ("All log messages before
    absl::InitializeLog()...", oneDNN, XNNPACK) ignore TF_CPP_MIN_LOG_LEVEL and would bury
    the progress lines and one-line errors users read. Python exceptions still propagate.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def parse_variant(description: str | None) -> str:
    """The variant named on the command line of a per-variant stage."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("variant", help="a key of `variants` in params.yaml")
    return parser.parse_args().variant


def _exit_on_sigterm(signum: int, frame: object) -> None:
    # Raising here unwinds the stack, so temporary files are removed and the
    # MLflow run is closed as FAILED instead of staying RUNNING forever.
    raise SystemExit(128 + signum)


def run(main: Callable[[], None]) -> None:
    """Run a stage's main(): a PipelineError becomes `error: ...` on stderr and exit code 2."""
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        main()
    except PipelineError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
