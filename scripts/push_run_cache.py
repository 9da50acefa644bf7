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
pulled from elsewhere, whose files were never fetched here, are not counted as failures.
"""

import argparse
import sys
from pathlib import Path

from dvc.exceptions import DvcException
from dvc.repo import Repo


def run_cache_entries(repo: Repo) -> list[tuple[str, str]]:
    """Every (stage key, run value) pair in the local run-cache (`.dvc/cache/runs/xx/<key>/<value>`)."""
    runs = Path(repo.cache.legacy.path) / "runs"
    return sorted((path.parent.name, path.name) for path in runs.glob("*/*/*") if path.is_file())


def local_objects(repo: Repo, entries: list[tuple[str, str]]) -> set:
    """The hashes of every output the entries name whose object the local cache holds."""
    named = set().union(*repo.stage_cache.get_used_objs(entries).values()) if entries else set()
    cache = repo.cache.local
    return {hash_info for hash_info in named if cache.exists(hash_info.value)}


def push(remote: str | None, jobs: int | None) -> str:
    """What was pushed, as one line."""
    with Repo() as repo:  # the repository the current directory is in
        pushed = repo.push(run_cache=True, remote=remote, jobs=jobs)
        entries = run_cache_entries(repo)
        objects = local_objects(repo, entries)
        result = repo.cloud.push(objects, jobs=jobs, remote=remote)
    if result.failed:
        raise DvcException(f"{len(result.failed)} of the run-cache's files could not be pushed: rerun make push")
    return (
        f"pushed {pushed} files and run-cache entries, then {len(result.transferred)} of the "
        f"{len(objects)} files the {len(entries)} run-cache entries name (the rest were on the remote)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--remote", "-r", help="the DVC remote (default: the default remote)")
    parser.add_argument("--jobs", "-j", type=int, help="parallel transfers (DVC's default unless given)")
    args = parser.parse_args()
    try:
        print(push(args.remote, args.jobs))
    except DvcException as error:
        sys.exit(f"error: {str(error).splitlines()[0]}")


if __name__ == "__main__":
    main()
