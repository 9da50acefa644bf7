"""What the per-variant stages after train (evaluate, export) share: the variant (and seed) named on the
command line, its validated params and paths, and the MLflow run train opened for it (with the id of
the model train logged), with Ctrl-C and SIGTERM deferred."""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from pipeline.core import cli, config
from pipeline.core.paths import SeedPaths, VariantPaths
from pipeline.core.signals import signals_deferred
from pipeline.tracking import runs
from pipeline.tracking.store import check_reachable


@dataclass(frozen=True)
class Stage:
    """What a per-variant stage works on: the variant, the seed whose model it reads, their paths."""

    name: str
    seed: int
    params: config.Params
    paths: VariantPaths
    seed_paths: SeedPaths


def open_stage(description: str | None, per_seed: bool) -> Stage:
    """The variant (and, `per_seed`, the seed) named on the command line, else the shipped seed; the
    validated params; their paths."""
    if per_seed:
        name, seed = cli.parse_variant_seed(description)
    else:
        name, seed = cli.parse_variant(description), None
    params = config.load_params()
    params.variant(name)
    seed = params.shipped_seed if seed is None else seed
    check_reachable()  # before the work, not after it
    return Stage(name, seed, params, VariantPaths(name), SeedPaths(name, seed))


@contextmanager
def variant_stage(description: str | None, per_seed: bool) -> Iterator[tuple[Stage, runs.VariantRun, Callable]]:
    """`open_stage`, inside the seed's MLflow run with Ctrl-C and SIGTERM deferred.

    Bad input fails inside the run, marking it FAILED. A signal is acted on where the stage calls
    the yielded `act_on_signal()`, between its steps (inside TensorFlow's calls an exception may
    abort the process); once the outputs are being replaced, the stage finishes first.
    """
    stage = open_stage(description, per_seed)
    run_file = stage.seed_paths.run_file
    run = runs.variant_run(stage.name, stage.seed, run_file, stage.params.experiment, new=False, tags={})
    with signals_deferred() as act_on_signal, run as opened:
        yield stage, opened, act_on_signal
