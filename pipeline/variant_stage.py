"""What the per-variant stages after train (evaluate, export) share: the variant named on the command
line, its validated params and paths, and its MLflow run (with the id of the model train logged) with
Ctrl-C and SIGTERM deferred."""

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from pipeline import cli, config, tracking
from pipeline.artifacts import signals_deferred
from pipeline.paths import VariantPaths


def open_variant(description: str | None) -> tuple[str, config.Params, VariantPaths]:
    """The variant named on the command line, the validated params and the variant's paths."""
    name = cli.parse_variant(description)
    params = config.load_params()
    params.variant(name)
    tracking.check_reachable()  # before the work, not after it
    return name, params, VariantPaths(name)


@contextmanager
def variant_stage(
    description: str | None,
) -> Iterator[tuple[str, config.Params, VariantPaths, tracking.VariantRun, Callable]]:
    """`open_variant`, inside the variant's MLflow run with Ctrl-C and SIGTERM deferred.

    Bad input fails inside the run, marking it FAILED. A signal is acted on where the stage calls
    the yielded `act_on_signal()`, between its steps (inside TensorFlow's calls an exception may
    abort the process); once the outputs are being replaced, the stage finishes first.
    """
    name, params, paths = open_variant(description)
    run = tracking.variant_run(name, paths.run_file, params.tracking.experiment, new=False, tags={})
    with signals_deferred() as act_on_signal, run as opened:
        yield name, params, paths, opened, act_on_signal
