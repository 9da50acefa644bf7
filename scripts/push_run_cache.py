"""`dvc push --run-cache`, plus the files DVC leaves out of it, so another machine restores a stage
run here instead of rerunning it.

    python scripts/push_run_cache.py [--remote NAME] [--jobs N]      (make push)

DVC's run-cache keeps, per stage run, its deps' and outs' hashes; `dvc push --run-cache` sends
those entries, but the files it sends are only the workspace's cached outputs. A stage's
`cache: false` outputs (our reports: metrics, history, plots, which git tracks) are copied into
the local cache when the run is recorded, and never pushed: another machine finds the entry, lacks
the files and retrains (`dvc exp run --pull` says the report is missing from the remote). A DVC
maintainer: the run-cache push does not "directly push anything except the runs files"
(treeverse/dvc#10472). So after DVC's push this pushes every object the local run-cache entries
name that the local cache holds; the remote skips what it already has. The objects of entries
pulled from elsewhere, whose files were never fetched here, are not counted as failures. That
second push uses DVC's internals, quarantined in pipeline/compat/dvc_run_cache.py.
"""

import argparse
import contextlib
import logging
import sys
from collections.abc import Iterator
from pathlib import Path

from dvc.exceptions import DvcException
from dvc.repo import Repo

# Run as `python scripts/<name>.py`, whose folder alone is on sys.path: the repository's `pipeline` too.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipeline.compat.dvc_run_cache import push_run_cache_files  # noqa: E402


@contextlib.contextmanager
def dvc_errors() -> Iterator[list[str]]:
    """The error lines DVC and its libraries log (one per file they failed to send), collected
    instead of printed, so that a failure is one line; their warnings are printed as they come."""
    errors: list[str] = []

    def collect(record: logging.LogRecord) -> None:
        if record.levelno >= logging.ERROR:
            errors.append(record.getMessage())
        else:
            print(f"warning: {record.getMessage()}", file=sys.stderr)

    collector = logging.Handler(logging.WARNING)
    collector.emit = collect
    # DVC gives its own and its libraries' loggers console handlers when it is imported.
    loggers = [logging.getLogger(name) for name in ("dvc", "dvc_objects", "dvc_data")]
    saved = [(logger, logger.handlers[:]) for logger in loggers]
    for logger in loggers:
        logger.handlers = [handler for handler in logger.handlers if handler.level < logging.WARNING]
        logger.handlers.append(collector)
    try:
        yield errors
    finally:
        for logger, handlers in saved:
            logger.handlers = handlers


def push(remote: str | None, jobs: int | None) -> str:
    """What was pushed, as one line."""
    with dvc_errors() as errors, Repo() as repo:  # the repository the current directory is in
        pushed = repo.push(run_cache=True, remote=remote, jobs=jobs)
        files = push_run_cache_files(repo, remote=remote, jobs=jobs)
    if files.failed or errors:
        first = errors[0] if errors else f"{files.failed} of the run-cache's files"
        raise DvcException(f"some files could not be pushed ({first}): rerun make push")
    return (
        f"pushed {pushed} files and run-cache entries, then {files.transferred} of the "
        f"{files.objects} files the {files.entries} run-cache entries name (the rest were on the remote)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--remote", "-r", help="the DVC remote (default: the default remote)")
    parser.add_argument("--jobs", "-j", type=int, help="parallel transfers (DVC's default unless given)")
    args = parser.parse_args()
    try:
        print(push(args.remote, args.jobs))
    except DvcException as error:  # no remote configured, files that failed: DVC's own words
        sys.exit(f"error: {str(error).splitlines()[0]}")
    except Exception as error:  # the remote's filesystem (unreachable host, refused key) raises its own errors
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        sys.exit(
            f"error: the DVC remote failed: {reason}: check its address and your key "
            "(dvc remote list; dvc remote modify --local NAME keyfile PATH), then rerun make push"
        )


if __name__ == "__main__":
    main()
