"""The edge every stage's `main()` runs behind: one-line errors, clean interruption."""

import signal
import sys
from collections.abc import Callable


class PipelineError(Exception):
    """Bad input a user can fix: params, data files, model files. Printed as one line."""


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
