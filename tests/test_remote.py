"""A DVC remote over SSH shared by two machines, for real.

A real OpenSSH `sshd` on a free loopback port, with a throwaway host key and client key, holds the
DVC remote `ssh://<user>@127.0.0.1:<port>/<tmp>/remote` (dvc-ssh). A git copy of the project with two
small one-epoch MLP variants (one seed each) and real Fashion-MNIST capped to 3,000 training images is
machine A; its git remote `origin` is a bare repository; fresh clones of it are machines B and C. A runs the pipeline
and pushes data, models and the run-cache (`make push`: scripts/push_run_cache.py); B pulls and has
nothing to run; A's run-cache reaches B, and a change that A already ran is restored from it on B
instead of trained; experiments that A and B run at the same time, logging to one tracking server
(PostgreSQL), and push at the same time, all reach C and the server. An unreachable remote and a
wrong key are errors that name the problem, and the next push works once they are fixed.
"""

import contextlib
import getpass
import hashlib
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from conftest import (
    REPOSITORY,
    SMALL_HIDDEN_UNITS,
    SMALL_VARIANTS,
    command_env,
    copy_project,
    edit_params,
    free_port,
    init_git,
    run_command,
    small_pipeline,
    stop_process_group,
)
from mlflow import MlflowClient
from servers import running, serving, tracking_server

from pipeline.core.paths import SYSTEM_DATA_DIR

pytestmark = pytest.mark.slow  # a real sshd, `dvc repro`, `dvc exp run` and pushes over SSH

SSHD = Path("/usr/sbin/sshd")
PUSH = REPOSITORY / "scripts" / "push_run_cache.py"
DATASET = str(SYSTEM_DATA_DIR)
VARIANTS = SMALL_VARIANTS
HIDDEN_UNITS = SMALL_HIDDEN_UNITS
SEED = yaml.safe_load((REPOSITORY / "params.yaml").read_text())["seeds"][0]  # small_pipeline's only seed
CHANGE = "variants.mlp.hidden_units=[24]"  # run on A, then restored from the run-cache on B
EXPERIMENTS = {"exp-a": "variants.mlp_dropout.hidden_units=[8]", "exp-b": "variants.mlp_dropout.hidden_units=[12]"}
COMPARED = ("models", "reports", "data/prepared")  # every file under these must be the same on A and B
SSHD_START_SECONDS = 30
GIT = ["git", "-c", "user.name=test", "-c", "user.email=test@example.com"]
ENV = {"FASHION_MNIST_DIR": DATASET, "SSH_AUTH_SOCK": ""}  # no agent: only the configured key is offered


def _children(pid: int) -> list[int]:
    """Every running descendant of `pid` (sshd's per-connection processes start sessions of their own)."""
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            parents[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
    found, frontier = [], [pid]
    while frontier:
        parent = frontier.pop()
        for child, its_parent in parents.items():
            if its_parent == parent:
                found.append(child)
                frontier.append(child)
    return found


class Sshd:
    """OpenSSH's sshd in the foreground on a free loopback port, with keys and config of its own in
    `directory`: it lets in the current user with the client key, and nothing else."""

    def __init__(self, directory: Path) -> None:
        self.directory, self.process, self.port, self.starts = directory, None, free_port(), 0
        self.key, self.wrong_key = directory / "client_key", directory / "wrong_key"
        for key in (directory / "host_key", self.key, self.wrong_key):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", key.name, "-f", key], check=True)
        (directory / "authorized_keys").write_text(self.key.with_suffix(".pub").read_text())
        self.config = directory / "sshd_config"
        self.config.write_text(
            f"ListenAddress 127.0.0.1\n"
            f"HostKey {directory / 'host_key'}\n"
            f"AuthorizedKeysFile {directory / 'authorized_keys'}\n"
            f"PidFile {directory / 'sshd.pid'}\n"
            "PubkeyAuthentication yes\n"
            "PasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\n"
            "UsePAM no\n"
            "StrictModes no\n"  # pytest's temporary directories
            "Subsystem sftp internal-sftp\n"  # what dvc-ssh (sshfs) speaks
        )
        self.remote = directory / "remote"
        self.url = f"ssh://{getpass.getuser()}@127.0.0.1:{self.port}{self.remote}"

    def start(self) -> None:
        if os.geteuid() == 0:  # root's sshd wants its privilege separation directory, which its service makes
            Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        self.starts += 1
        self.log = self.directory / f"sshd-{self.starts}.log"
        with self.log.open("w") as log:
            self.process = subprocess.Popen(
                [SSHD, "-D", "-e", "-f", self.config, "-p", str(self.port)],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + SSHD_START_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"sshd exited with {self.process.returncode}:\n{self.log.read_text()[-3000:]}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=2) as s:
                if s.recv(64).startswith(b"SSH-2.0-"):
                    return
            time.sleep(0.2)
        pytest.fail(f"sshd did not answer on port {self.port} within {SSHD_START_SECONDS} s:\n{self.log.read_text()}")

    def stop(self) -> None:
        if self.process is None:
            return
        children = _children(self.process.pid)
        stop_process_group(self.process)
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, 9)
        self.process = None

    def survivors(self) -> list[str]:
        return running(str(self.config), "-f")


@pytest.fixture(scope="module")
def sshd(tmp_path_factory):
    if not SSHD.exists():
        pytest.fail(f"{SSHD} is missing: make openssh-server installs it")
    with serving(Sshd(tmp_path_factory.mktemp("sshd").resolve()), "sshd") as server:
        yield server


def _dvc(root: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return run_command(["dvc", *args], root, check=check, **ENV)


def _clone(origin: Path, root: Path, sshd: Sshd) -> Path:
    """A fresh clone of `origin` at `root`, its DVC remote given the client key (a machine's own setting)."""
    run_command(["git", "clone", "-q", str(origin), str(root)], root.parent)
    _dvc(root, "remote", "modify", "--local", "team", "keyfile", str(sshd.key))
    return root


def _push(root: Path) -> str:
    """`make push` on `root`: `dvc push --run-cache` and the run-cache's reports DVC leaves out."""
    return run_command([sys.executable, str(PUSH), "--remote", "team"], root, **ENV).stdout


def _digests(root: Path) -> dict[str, str]:
    """The SHA-256 of every file under COMPARED, by path."""
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for directory in COMPARED
        for path in sorted((root / directory).rglob("*"))
        if path.is_file()
    }


def _output(result: subprocess.CompletedProcess) -> str:
    return result.stdout + result.stderr


@pytest.fixture(scope="module")
def machines(sshd, tmp_path_factory) -> SimpleNamespace:
    """Machine A after `dvc repro`, `dvc push --run-cache` and `git push`; machine B, a fresh clone,
    after `dvc pull` and `dvc repro` (its output)."""
    base = tmp_path_factory.mktemp("machines").resolve()
    origin = base / "origin.git"
    run_command(["git", "init", "-q", "--bare", "-b", "main", str(origin)], base)
    a = copy_project(base / "a")
    edit_params(a, small_pipeline)
    init_git(a)
    run_command(["git", "branch", "-M", "main"], a)
    run_command(["git", "remote", "add", "origin", str(origin)], a)
    _dvc(a, "remote", "add", "-d", "-f", "team", sshd.url)  # -f: whatever .dvc/config named team
    _dvc(a, "remote", "modify", "--local", "team", "keyfile", str(sshd.key))
    _dvc(a, "repro")
    _push(a)
    run_command(["git", "add", "-A"], a)  # dvc.lock, .dvc/config, the metrics files, the .gitignore files
    run_command([*GIT, "commit", "-qm", "pipeline run, pushed to the team remote"], a)
    run_command(["git", "push", "-q", "-u", "origin", "main"], a)

    b = _clone(origin, base / "b", sshd)
    pulled = _dvc(b, "pull")
    reproduced = _dvc(b, "repro")
    return SimpleNamespace(origin=origin, a=a, b=b, base=base, pulled=pulled, reproduced=reproduced)


def test_a_fresh_clone_pulls_everything_and_runs_no_stage(machines):
    assert "Running stage" not in _output(machines.reproduced), _output(machines.reproduced)
    assert "Data and pipelines are up to date" in _output(machines.reproduced)
    theirs, ours = _digests(machines.a), _digests(machines.b)
    assert len(theirs) > 20 and any(path.endswith(".tflite") for path in theirs)  # models, reports and data
    assert ours == theirs
    assert not (machines.b / "mlflow.db").exists()  # nothing ran


def _run_cache(root: Path) -> set[str]:
    """The run-cache's entries in `root`'s DVC cache (one file per stage run: its deps' and outs' hashes)."""
    runs = root / ".dvc" / "cache" / "runs"
    return {str(path.relative_to(runs)) for path in runs.rglob("*") if path.is_file()}


@pytest.fixture(scope="module")
def rerun(machines) -> SimpleNamespace:
    """CHANGE run on A and pushed with its run-cache; then B's `dvc pull --run-cache` and the same
    `dvc exp run --pull` on B (its output; `--pull` fetches the outputs of a run found in the run-cache).
    Both workspaces are back on main's afterwards."""
    a, b = machines.a, machines.b
    ran = _dvc(a, "exp", "run", "-S", CHANGE)
    _push(a)
    _dvc(b, "pull", "--run-cache")
    pulled = _run_cache(b)
    restored = _dvc(b, "exp", "run", "--pull", "-S", CHANGE)  # --pull: the outputs a cached run names
    result = SimpleNamespace(ran=_output(ran), pushed=_run_cache(a), pulled=pulled, restored=_output(restored))
    result.same = _digests(b) == _digests(a)
    for root in (a, b):  # back to main's workspace for the next tests
        run_command(["git", "reset", "-q", "--hard"], root)
        _dvc(root, "checkout", "-q")
    return result


def test_the_run_cache_pushed_from_one_machine_reaches_another(rerun):
    assert f"Running stage 'train@mlp-{SEED}'" in rerun.ran
    assert "Stage 'export@mlp' is cached" not in rerun.ran  # A ran it: new to every run-cache
    assert rerun.pushed and rerun.pushed <= rerun.pulled


def test_a_change_run_on_one_machine_is_restored_from_the_run_cache_on_another(rerun):
    print(rerun.restored)
    for stage in (f"train@mlp-{SEED}", f"evaluate@mlp-{SEED}", "export@mlp"):
        assert f"Stage '{stage}' is cached - skipping run, checking out outputs" in rerun.restored
        assert f"Running stage '{stage}'" not in rerun.restored
    assert f"mlp seed {SEED}: val_accuracy" not in rerun.restored and "Epoch" not in rerun.restored  # no training
    assert rerun.same  # the same model, metrics and reports as A's run


def _started(root: Path, *args: str, **environment: str) -> subprocess.Popen:
    return subprocess.Popen(
        ["dvc", *args],
        cwd=root,
        env=command_env(**ENV, **environment),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _finished(process: subprocess.Popen) -> str:
    output, _ = process.communicate()
    assert process.returncode == 0, f"{' '.join(process.args)} failed:\n{output[-3000:]}"
    return output


@pytest.fixture(scope="module")
def server():
    """The team's tracking server (PostgreSQL and `mlflow server`, scripts/tracking_server.py)."""
    with tracking_server() as running_server:
        yield running_server


def _experiment_runs(uri: str) -> dict[str, list]:
    """The server's runs, by the DVC experiment they were logged from."""
    client = MlflowClient(tracking_uri=uri)
    runs = client.search_runs([client.get_experiment_by_name("fashion-mnist").experiment_id])
    found = {}
    for run in runs:
        found.setdefault(run.data.tags.get("dvc_experiment"), []).append(run)
    return found


def test_experiments_run_on_two_machines_at_once_reach_a_third_and_the_tracking_server(machines, sshd, server):
    a, b = machines.a, machines.b
    runs = [
        _started(root, "exp", "run", "-S", change, "--name", name, MLFLOW_TRACKING_URI=server.uri)
        for root, (name, change) in zip((a, b), EXPERIMENTS.items())
    ]
    for run in runs:
        _finished(run)
    # Both push their experiment (git refs to origin, files to the DVC remote) at the same time.
    pushes = [_started(root, "exp", "push", "origin", name) for root, name in zip((a, b), EXPERIMENTS)]
    for push in pushes:
        _finished(push)

    c = _clone(machines.origin, machines.base / "c", sshd)
    _dvc(c, "exp", "pull", "origin", *EXPERIMENTS)
    shown = json.loads(_dvc(c, "exp", "show", "--json").stdout)
    experiments = {
        revision["name"]: revision["data"]
        for baseline in shown
        for experiment in baseline.get("experiments") or []
        for revision in experiment["revs"]
    }
    assert set(EXPERIMENTS) <= set(experiments), experiments.keys()
    logged = _experiment_runs(server.uri)
    for name, change in EXPERIMENTS.items():
        data = experiments[name]
        units = change.split("=")[1]
        variants = data["params"]["params.yaml"]["data"]["variants"]
        assert variants["mlp_dropout"]["hidden_units"] == json.loads(units), name
        metrics = data["metrics"]["reports/metrics.json"]["data"]["mlp_dropout"]  # the mean over its one seed
        assert 0.1 < metrics["test_accuracy"] <= 1, name
        # The server has the experiment's runs (only the changed variant and compare ran: its seed run, nested
        # under the parent run of its new recipe, and the comparison), finished, with the metric C sees.
        ran = {run.info.run_name: run for run in logged.get(name, [])}
        seed_run = f"mlp_dropout seed {SEED}"
        assert sorted(ran) == sorted(["comparison", "mlp_dropout", seed_run]), (name, sorted(ran))
        assert {run.info.status for run in ran.values()} == {"FINISHED"}, name
        assert ran["mlp_dropout"].data.tags["run_type"] == "variant", name
        assert ran[seed_run].data.tags["mlflow.parentRunId"] == ran["mlp_dropout"].info.run_id, name
        assert ran[seed_run].data.metrics["test_accuracy"] == pytest.approx(metrics["test_accuracy"]), name
        assert ran["mlp_dropout"].data.metrics["test_accuracy"] == pytest.approx(metrics["test_accuracy"]), name

    # The data each pushed is whole on the remote: C checks out exp-b's model as B made it.
    expected = _digests(b)
    _dvc(c, "exp", "apply", "exp-b")
    assert _digests(c) == expected


def _error(result: subprocess.CompletedProcess) -> str:
    """What DVC printed, when it failed: its ERROR lines."""
    print(f"exit {result.returncode}:\n{_output(result)}")
    assert result.returncode != 0, _output(result)
    return "\n".join(line for line in _output(result).splitlines() if line.startswith("ERROR"))


def _push_error(root: Path) -> str:
    """`make push`'s one line, when it fails."""
    result = run_command([sys.executable, str(PUSH)], root, check=False, **ENV)
    assert result.returncode == 1, _output(result)
    assert len(result.stderr.splitlines()) == 1, result.stderr
    (line,) = result.stderr.splitlines()
    assert line.startswith("error: the DVC remote failed: ")
    assert line.endswith("(dvc remote list; dvc remote modify --local NAME keyfile PATH), then rerun make push")
    return line


def test_an_unreachable_remote_or_a_wrong_key_fails_naming_it_and_the_next_push_works(machines, sshd):
    a = machines.a
    d = _clone(machines.origin, machines.base / "d", sshd)  # nothing in its cache: a pull must reach the remote
    (a / "notes.txt").write_text("new data to push\n")
    _dvc(a, "add", "-q", "notes.txt")

    for root in (a, d):
        _dvc(root, "remote", "modify", "--local", "team", "keyfile", str(sshd.wrong_key))
    denied = f"Permission denied for user {getpass.getuser()} on host 127.0.0.1"
    for error in (_error(_dvc(a, "push", check=False)), _error(_dvc(d, "pull", check=False)), _push_error(a)):
        assert denied in error
    for root in (a, d):
        _dvc(root, "remote", "modify", "--local", "team", "keyfile", str(sshd.key))
    assert "1 file pushed" in _output(_dvc(a, "push"))

    (a / "notes.txt").write_text("more new data to push\n")
    _dvc(a, "add", "-q", "notes.txt")
    sshd.stop()
    try:
        pushed, pulled = _error(_dvc(a, "push", check=False)), _error(_dvc(d, "pull", check=False))
        made = _push_error(a)
    finally:
        sshd.start()
    refused = f"Connect call failed ('127.0.0.1', {sshd.port})"
    assert refused in pushed and refused in made
    assert refused in pulled and "failed to connect to ssh" in pulled
    assert "1 file pushed" in _output(_dvc(a, "push"))
    _dvc(d, "pull")
