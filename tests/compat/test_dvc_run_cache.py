"""Canary of pipeline/compat/dvc_run_cache.py: fails when the DVC internals it uses are gone, or when
`dvc push --run-cache` sends the run-cache entries' files itself (then the workaround is to be deleted).

A tiny DVC repository (no git) with one stage whose metrics file is `cache: false`, run once, and two
local-directory remotes: one gets the public `dvc push --run-cache`, the other the workaround's push.
"""

import hashlib
import operator
import signal
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from dvc.exceptions import DvcException
from dvc.repo import Repo

from pipeline.compat import dvc_run_cache

STAGE = """\
stages:
  report:
    cmd: cp score.json metrics.json
    deps: [score.json]
    metrics:
      - metrics.json:
          cache: false
"""


TIMEOUT_SECONDS = 120  # each step takes seconds; a DVC lock that is never released must fail, not stall CI


def _dvc(root: Path, *args: str) -> None:
    """The `dvc` command a user types, from this venv, in `root`."""
    command = [sys.executable, "-m", "dvc", *args]
    subprocess.run(command, cwd=root, check=True, capture_output=True, text=True, timeout=TIMEOUT_SECONDS)


@pytest.fixture(autouse=True)
def bounded_in_process_dvc():
    """DVC's Repo, used in this process, fails the test with a TimeoutError if it waits past the bound."""

    def give_up(signum, frame):
        raise TimeoutError(f"DVC did not finish within {TIMEOUT_SECONDS} s (a lock never released?)")

    previous = signal.signal(signal.SIGALRM, give_up)
    signal.alarm(TIMEOUT_SECONDS)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _object(remote: Path, content: bytes) -> Path:
    """Where a DVC 3 remote keeps the object of a file holding `content` (md5, `files/md5/xx/rest`)."""
    digest = hashlib.md5(content).hexdigest()
    return remote / "files" / "md5" / digest[:2] / digest[2:]


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> SimpleNamespace:
    """The repository after `dvc repro` and a public `dvc push --run-cache` to the remote `public`."""
    base = tmp_path_factory.mktemp("dvc_run_cache")
    root, public, workaround = base / "repo", base / "public", base / "workaround"
    root.mkdir()
    content = b'{"score": 0.5}\n'
    (root / "score.json").write_bytes(content)
    (root / "dvc.yaml").write_text(STAGE)
    _dvc(root, "init", "--no-scm")
    _dvc(root, "remote", "add", "public", str(public))
    _dvc(root, "remote", "add", "workaround", str(workaround))
    _dvc(root, "repro")
    _dvc(root, "push", "--run-cache", "--remote", "public")
    return SimpleNamespace(root=root, public=public, workaround=workaround, content=content)


def test_the_dvc_internals_the_workaround_uses_still_exist(project):
    with Repo(str(project.root)) as repo:
        for name in dvc_run_cache.INTERNALS:
            try:
                operator.attrgetter(name)(repo)
            except AttributeError:
                pytest.fail(f"DVC's Repo has no {name} any more: rework pipeline/compat/dvc_run_cache.py")


def test_the_public_run_cache_push_still_leaves_the_entries_files_out(project):
    assert any((project.public / "runs").rglob("*")), "the premise broke: `dvc push --run-cache` sent no entry"
    if _object(project.public, project.content).is_file():
        pytest.fail(
            "upstream fixed: `dvc push --run-cache` now sends the cache: false outputs' objects: "
            "delete the workaround (pipeline/compat/dvc_run_cache.py and its use in scripts/push_run_cache.py)"
        )


def test_the_workaround_pushes_the_files_the_entries_name(project, monkeypatch):
    monkeypatch.chdir(project.root)  # as scripts/push_run_cache.py runs: DVC reads the entries' paths from there
    with Repo(str(project.root)) as repo:
        entries = dvc_run_cache.run_cache_entries(repo)
        files = dvc_run_cache.push_run_cache_files(repo, remote="workaround")
    assert (files.entries, files.objects, files.transferred, files.failed) == (len(entries), 1, 1, 0)
    assert _object(project.workaround, project.content).read_bytes() == project.content


def test_the_workaround_refuses_an_unknown_remote_naming_it(project, monkeypatch):
    monkeypatch.chdir(project.root)
    with Repo(str(project.root)) as repo, pytest.raises(DvcException, match="remote 'nowhere'"):
        dvc_run_cache.push_run_cache_files(repo, remote="nowhere")
