"""The files that DVC's run-cache entries name, pushed through DVC's internals, as `dvc push --run-cache` does not.

Upstream: https://github.com/treeverse/dvc/pull/10472 (and treeverse/dvc#10449). DVC's run-cache keeps, per stage
run, its deps' and outs' hashes; `dvc push --run-cache` sends those entries (`.dvc/cache/runs/...`) but not the
objects they name: the run-cache push does not "directly push anything except the runs files" (a DVC maintainer,
there). A plain push sends the workspace's cached outputs; a stage's `cache: false` metrics and plots (our
reports, which git tracks) are copied into the local cache when the run is recorded, and nothing pushes them.

What breaks without it: another machine pulls the entry but not the files it names, so it cannot restore the run
and retrains (`dvc exp run --pull` says the report is missing from the remote).

DVC has no public call for it: the entries are listed from `repo.cache.legacy.path`, the objects they name from
`repo.stage_cache.get_used_objs`, checked in `repo.cache.local` and sent with `repo.cloud.push` (`INTERNALS`).
tests/compat/test_dvc_run_cache.py fails when one of them is gone, and when `dvc push --run-cache` sends those
objects itself: then delete this module and let scripts/push_run_cache.py call `repo.push(run_cache=True)` alone.
Still needed with dvc 3.67.1 and upstream's main of June 2026.
"""

from dataclasses import dataclass
from pathlib import Path

from dvc.repo import Repo

# What this module uses of DVC's internals, as attribute paths from a `Repo` (the canary test checks each).
INTERNALS = ("cache.legacy.path", "cache.local.exists", "stage_cache.get_used_objs", "cloud.push")


@dataclass(frozen=True)
class RunCacheFiles:
    """What `push_run_cache_files` did: run-cache entries, the objects they name held here, those sent, those not."""

    entries: int
    objects: int
    transferred: int
    failed: int


def run_cache_entries(repo: Repo) -> list[tuple[str, str]]:
    """Every (stage key, run value) pair in the local run-cache (`.dvc/cache/runs/xx/<key>/<value>`)."""
    runs = Path(repo.cache.legacy.path) / "runs"
    return sorted((path.parent.name, path.name) for path in runs.glob("*/*/*") if path.is_file())


def local_objects(repo: Repo, entries: list[tuple[str, str]]) -> set:
    """The hashes of every output the entries name whose object the local cache holds (entries pulled from
    elsewhere, whose files were never fetched here, name objects it lacks)."""
    named = set().union(*repo.stage_cache.get_used_objs(entries).values()) if entries else set()
    cache = repo.cache.local
    return {hash_info for hash_info in named if cache.exists(hash_info.value)}


def push_run_cache_files(repo: Repo, remote: str | None = None, jobs: int | None = None) -> RunCacheFiles:
    """Push every object the local run-cache entries name that the local cache holds; the remote skips what it
    already has. Raises DVC's error for an unknown remote; a file that fails is counted in `failed`."""
    entries = run_cache_entries(repo)
    objects = local_objects(repo, entries)
    result = repo.cloud.push(objects, jobs=jobs, remote=remote)
    return RunCacheFiles(len(entries), len(objects), len(result.transferred), len(result.failed))
