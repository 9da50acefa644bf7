"""The edge every stage's `main()` runs behind: one-line errors, clean interruption."""

import argparse
import gc
import os
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager


class PipelineError(Exception):
    """Bad input a user can fix: params, data files, model files. Printed as one line."""


# The `python -m pipeline.<stage>` commands that validate params.yaml before their imports, and
# those of them whose one argument names a variant. `pipeline.config` validates a file of its own.
PARAMS_CHECKED_EARLY = ("fetch", "preprocess", "train", "evaluate", "export", "compare", "check")
VARIANT_STAGES = ("train", "evaluate", "export")


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


def parse_variant(description: str | None) -> str:
    """The variant named on the command line of a per-variant stage."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("variant", help="a key of `variants` in params.yaml")
    return parser.parse_args().variant


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
    os.write(2 if _hidden_stderr is None else _hidden_stderr, message)
    os._exit(128 + signum)


def module_run_with_m() -> str | None:
    """MODULE of `python -m MODULE ...` while Python imports MODULE's package, else None.

    Only then is `sys.argv[0]` the string "-m" (the docs of `python -m`); the module's name is
    the item of `sys.orig_argv` before the script's own arguments (`-m MODULE` or `-mMODULE`).
    """
    if sys.argv[:1] != ["-m"] or len(sys.orig_argv) < len(sys.argv):
        return None
    return sys.orig_argv[len(sys.orig_argv) - len(sys.argv)].removeprefix("-m")


def check_params_before_imports() -> None:
    """For `python -m pipeline.<stage>`: validate params.yaml, and the variant a per-variant stage
    names, before the stage module imports TensorFlow (seconds), so a typo fails at once.

    Same one line and exit code 2 as the stage's own check. `--help`, a stage's missing or extra
    arguments and other modules are left to the stage itself.
    """
    module = module_run_with_m() or ""
    stage = module.removeprefix("pipeline.")
    args = sys.argv[1:]
    if not module.startswith("pipeline.") or stage not in PARAMS_CHECKED_EARLY:
        return
    if any(arg.startswith(("-h", "--h")) for arg in args):
        return
    from pipeline import config  # here, not at the top: config imports this module

    def validate() -> None:
        params = config.load_params()
        if stage in VARIANT_STAGES and len(args) == 1 and not args[0].startswith("-"):
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
