"""The edge every stage's `main()` runs behind: one-line errors, clean interruption."""

import argparse
import gc
import os
import signal
import sys
from collections.abc import Callable

from pipeline.core import config
from pipeline.core.errors import PipelineError
from pipeline.core.native_logs import stderr_fd


def parse_variant(description: str | None) -> str:
    """The variant named on the command line of a per-variant stage."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("variant", help="a key of `variants` in params.yaml")
    return parser.parse_args().variant


def parse_variant_seed(description: str | None) -> tuple[str, int]:
    """The variant and the training seed named on the command line of a per-seed stage."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("variant", help="a key of `variants` in params.yaml")
    parser.add_argument("seed", type=int, help="a training seed (one of `seeds` in params.yaml for dvc repro)")
    args = parser.parse_args()
    return args.variant, args.seed


class Interrupted(SystemExit):
    """SIGTERM: exit code 128 + `signum`, unwinding the stack as Ctrl-C's KeyboardInterrupt does."""

    def __init__(self, signum: int) -> None:
        super().__init__(128 + signum)
        self.signum = signum


def _exit_on_sigterm(signum: int, frame: object) -> None:
    # Raising here unwinds the stack, so temporary files are removed and the
    # MLflow run is closed as FAILED instead of staying RUNNING forever.
    raise Interrupted(signum)


def _exit_at_once(signum: int, frame: object) -> None:
    # While a stage imports its modules nothing is written or open yet, and an exception raised
    # inside an import would end in a traceback: leave at once, in one line.
    message = f"interrupted by {signal.Signals(signum).name}\n".encode()
    os.write(stderr_fd(), message)
    os._exit(128 + signum)


def check_params_early(takes_variant: bool = False) -> None:
    """For a stage run as a command, called before its imports: validate params.yaml (and the variant a
    per-variant stage names) before the stage imports TensorFlow (seconds), so a typo fails at once.

    Same one line and exit code 2 as the stage's own check. `--help`, missing or extra arguments
    are left to the stage's own parser. Ctrl-C meanwhile exits at once, in one line.
    """
    args = sys.argv[1:]
    if any(arg.startswith(("-h", "--h")) for arg in args):
        return

    def validate() -> None:
        params = config.load_params()
        if takes_variant and len(args) in (1, 2) and not args[0].startswith("-"):
            params.variant(args[0])

    _one_line_errors(validate)
    for signum in (signal.SIGINT, signal.SIGTERM):  # until the stage's own `run` takes over
        if signal.getsignal(signum) is not signal.SIG_IGN:
            signal.signal(signum, _exit_at_once)


def _one_line_errors(main: Callable[[], None]) -> None:
    """Call main(): a PipelineError becomes `error: ...` on stderr and exit code 2; Ctrl-C or
    SIGTERM becomes `interrupted by SIGINT` (SIGTERM) and exit code 130 (143), no traceback."""
    try:
        main()
    except PipelineError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    except (KeyboardInterrupt, Interrupted) as interruption:
        signum = getattr(interruption, "signum", signal.SIGINT)
        print(f"interrupted by {signal.Signals(signum).name}", file=sys.stderr)
        sys.exit(128 + signum)


def run(main: Callable[[], None]) -> None:
    """Run a stage's main() with one-line errors and clean interruption, then exit quickly.

    Everything main() opened is closed by then. `gc.freeze()` spares the exit the garbage
    collector's last pass over TensorFlow's objects, about a second of every stage's wall time;
    files, atexit handlers and MLflow are finalized as usual.
    """
    if signal.getsignal(signal.SIGINT) is _exit_at_once:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        _one_line_errors(main)
    finally:
        gc.freeze()
