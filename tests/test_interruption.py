"""Interrupted and failing stages, run for real: Ctrl-C and SIGTERM during training, Ctrl-C during
evaluate, export and compare, a corrupt model, a truncated split. Each must end with one line on
stderr, write no partial output (run directly, a stage leaves the old outputs as they were), close
the MLflow run as FAILED, and let the next `dvc repro` finish the job.

Runs on a temporary copy of the repository with real Fashion-MNIST capped to 3,000 training images
and one small MLP variant trained with one seed; the signal is sent once Keras prints its first "Epoch" line.
"""

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
import yaml
from conftest import REPOSITORY, command_env, copy_project, edit_params, init_git, run_command, tiny_data_and_export
from mlflow import MlflowClient

from pipeline.core import files
from pipeline.core.paths import SYSTEM_DATA_DIR
from pipeline.data.split_files import load_split

pytestmark = pytest.mark.slow  # real stages and dvc repro on a copy of the project

VARIANT = "mlp"
SEED = yaml.safe_load((REPOSITORY / "params.yaml").read_text())["seeds"][0]  # the only one trained here
RUN_NAME = f"{VARIANT} seed {SEED}"  # the MLflow run of the variant trained with that seed
MODEL_DIR, REPORTS_DIR = f"models/{VARIANT}/seed-{SEED}", f"reports/variants/{VARIANT}/seed-{SEED}"
EPOCHS = 100  # about 5 s of training: a signal sent at the first epoch always arrives during training
TRAIN_OUTPUTS = (
    f"{MODEL_DIR}/model.keras",
    f"{MODEL_DIR}/mlflow_run.json",
    f"{REPORTS_DIR}/history.csv",
    f"{REPORTS_DIR}/learning_curves.png",
    f"{REPORTS_DIR}/training.json",
)
TRAIN = [sys.executable, "-m", "pipeline.train", VARIANT, str(SEED)]
EVALUATE = [sys.executable, "-m", "pipeline.evaluate", VARIANT, str(SEED)]
EXPORT = [sys.executable, "-m", "pipeline.export", VARIANT]  # the shipped seed's model: SEED's
STAGE_COMMANDS = {"evaluate": EVALUATE, "export": EXPORT}


def _tiny_and_slow(params: dict) -> None:
    tiny_data_and_export(params)
    params["seeds"] = [SEED]
    params["run_variants"] = [VARIANT]
    params["variants"] = {VARIANT: dict(params["variants"][VARIANT], hidden_units=[32], epochs=EPOCHS)}
    params["compare"]["effects"] = {}  # one variant: no pair to compare
    params["gate"]["min_test_accuracy_by_variant"] = {}


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """A git repository copy of the project with one variant; `dvc repro` has run once."""
    root = copy_project(tmp_path_factory.mktemp("project")).resolve()
    edit_params(root, _tiny_and_slow)
    init_git(root)
    run_command(["dvc", "repro"], root, FASHION_MNIST_DIR=str(SYSTEM_DATA_DIR))
    return root


def _files(root: Path) -> dict[str, str]:
    """The content hash of every file DVC tracks or a user reads, by path: data, models, reports, dvc.lock."""
    paths = [path for folder in ("data", "models", "reports") for path in (root / folder).rglob("*")]
    paths.append(root / "dvc.lock")
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest() for path in paths if path.is_file()
    }


def _leftovers(root: Path) -> list[Path]:
    """Temporary files or staging directories that an interrupted write left behind."""
    return [
        path
        for pattern in (".staging-*", ".*.tmp-*")
        for path in root.rglob(pattern)
        if not path.relative_to(root).parts[0].startswith((".dvc", ".git"))
    ]


def _all_runs(root: Path) -> list:
    """Every MLflow run of the project, newest first: the seed runs, their parent runs and the comparisons."""
    client = MlflowClient(tracking_uri=f"sqlite:///{root / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("fashion-mnist")
    return client.search_runs([experiment.experiment_id], order_by=["attributes.start_time DESC"])


def _runs(root: Path) -> list:
    """The project's MLflow runs of the variant trained with SEED (not their parent runs), newest first."""
    return [run for run in _all_runs(root) if run.info.run_name == RUN_NAME]


def _interrupt(args: list[str], root: Path, signum: int, *, whole_group: bool) -> tuple[int, str, str]:
    """Run `args` in a session of its own; once training prints its first "Epoch" line, send `signum`
    to the process (or to its whole process group, as Ctrl-C in a terminal does). Its exit code,
    stdout and stderr."""
    stderr_file = root / "interrupted.stderr"
    with stderr_file.open("w+") as stderr:
        process = subprocess.Popen(
            args, cwd=root, env=command_env(), stdout=subprocess.PIPE, stderr=stderr, text=True, start_new_session=True
        )
        try:
            seen = []
            for line in process.stdout:
                seen.append(line)
                if line.startswith("Epoch"):
                    break
            else:
                pytest.fail(f"{args} ended before training:\n{''.join(seen)}\n{stderr_file.read_text()}")
            (os.killpg if whole_group else os.kill)(process.pid, signum)
            rest, _ = process.communicate(timeout=300)
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
    output = stderr_file.read_text()
    stderr_file.unlink()
    return process.returncode, "".join(seen) + rest, output


@pytest.mark.parametrize(
    ("signum", "trained_before"),
    [(signal.SIGINT, True), (signal.SIGTERM, True), (signal.SIGINT, False), (signal.SIGTERM, False)],
    ids=["SIGINT-retraining", "SIGTERM-retraining", "SIGINT-first-training", "SIGTERM-first-training"],
)
def test_a_signal_during_training_leaves_the_outputs_as_they_were_and_fails_the_run(project, signum, trained_before):
    if trained_before:
        run_command(["dvc", "repro"], project)
    else:
        for output in TRAIN_OUTPUTS:
            (project / output).unlink(missing_ok=True)
    before = _files(project)

    code, _, stderr = _interrupt(TRAIN, project, signum, whole_group=False)

    assert code == 128 + signum
    assert stderr.splitlines() == [f"interrupted by {signal.Signals(signum).name}"]
    assert _files(project) == before
    assert [(project / output).exists() for output in TRAIN_OUTPUTS] == [trained_before] * len(TRAIN_OUTPUTS)
    assert _leftovers(project) == []
    assert _runs(project)[0].info.status == "FAILED"
    assert all(run.info.status != "RUNNING" for run in _all_runs(project))


@pytest.mark.parametrize(("signum", "factor"), [(signal.SIGINT, 1.5), (signal.SIGTERM, 2.0)], ids=["SIGINT", "SIGTERM"])
def test_a_signal_to_dvc_repro_leaves_no_partial_output_and_the_next_repro_finishes(project, signum, factor):
    run_command(["dvc", "repro"], project)  # every output present and up to date
    before = _files(project)
    current = yaml.safe_load((project / "params.yaml").read_text())["variants"][VARIANT]["learning_rate"]
    learning_rate = round(current * factor, 6)  # a change whatever params.yaml says today
    edit_params(project, lambda params: params["variants"][VARIANT].update(learning_rate=learning_rate))

    code, _, stderr = _interrupt(["dvc", "repro"], project, signum, whole_group=True)

    assert code != 0
    assert f"interrupted by {signal.Signals(signum).name}" in stderr.splitlines()
    assert "Traceback" not in stderr
    # DVC deletes a stage's outputs before running it (its cache keeps them); the stage wrote none.
    assert _files(project) == {path: digest for path, digest in before.items() if path not in TRAIN_OUTPUTS}
    assert _leftovers(project) == []
    assert _runs(project)[0].info.status == "FAILED"
    assert all(run.info.status != "RUNNING" for run in _all_runs(project))

    result = run_command(["dvc", "repro"], project)
    assert f"Running stage 'train@{VARIANT}-{SEED}'" in result.stdout
    assert run_command(["dvc", "status"], project).stdout.strip() == "Data and pipelines are up to date."
    newest = _runs(project)[0]
    assert newest.info.status == "FINISHED"
    assert newest.data.params["variant.learning_rate"] == str(learning_rate)
    assert "test_accuracy" in newest.data.metrics and "tflite.float32.accuracy" in newest.data.metrics


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_while_the_stage_imports_tensorflow_is_one_line_too(project, signum):
    runs_before = len(_all_runs(project))
    before = _files(project)
    pid = []

    def importing_tensorflow() -> bool:
        return "libtensorflow" in Path(f"/proc/{pid[0]}/maps").read_text()

    code, stdout, stderr = _signal_when(TRAIN, project, importing_tensorflow, signum, pid)
    assert code == 128 + signum
    assert (stdout, stderr) == ("", f"interrupted by {signal.Signals(signum).name}\n")
    assert _files(project) == before
    assert len(_all_runs(project)) == runs_before  # stopped before it opened one (or a parent run)


def _signal_when(args: list[str], root: Path, ready, signum: int, pid: list | None = None) -> tuple[int, str, str]:
    """Run `args` (its process id appended to `pid`); once `ready()` holds, send `signum`. Its exit code,
    stdout and stderr."""
    process = subprocess.Popen(
        args, cwd=root, env=command_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    (pid if pid is not None else []).append(process.pid)
    try:
        while process.poll() is None and not ready():
            time.sleep(0.02)
        assert process.poll() is None, f"{args} ended before the moment to interrupt it"
        process.send_signal(signum)
        stdout, stderr = process.communicate(timeout=300)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return process.returncode, stdout, stderr


@pytest.mark.parametrize("stage", ["evaluate", "export"])
def test_ctrl_c_during_evaluate_or_export_leaves_the_outputs_as_they_were_and_fails_the_run(project, stage):
    run_command(["dvc", "repro"], project)
    before = _files(project)
    run_id = json.loads((project / f"{MODEL_DIR}/mlflow_run.json").read_text())["run_id"]
    client = MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")

    def working() -> bool:  # the stage has reopened the seed's run: it is past its imports, at its work
        return client.get_run(run_id).info.status == "RUNNING"

    code, stdout, stderr = _signal_when(STAGE_COMMANDS[stage], project, working, signal.SIGINT)
    assert (code, stdout, stderr) == (130, "", "interrupted by SIGINT\n")
    assert _files(project) == before
    assert _leftovers(project) == []
    assert client.get_run(run_id).info.status == "FAILED"


def test_a_run_left_running_by_sigkill_is_marked_killed_by_the_next_stage(project):
    run_command(["dvc", "repro"], project)
    before = _files(project)

    code, _, _ = _interrupt(TRAIN, project, signal.SIGKILL, whole_group=False)

    assert code == -signal.SIGKILL
    (orphan, *_) = _runs(project)
    assert orphan.info.status == "RUNNING"  # nothing could close it
    assert _files(project) == before  # the old outputs, whole
    result = run_command(EVALUATE, project)
    pid = orphan.data.tags["process.pid"]
    note = f"note: MLflow run {orphan.info.run_id} ({RUN_NAME}) was left RUNNING by process {pid}, which is gone"
    assert f"{note}: marked it KILLED" in result.stderr
    assert (
        MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}").get_run(orphan.info.run_id).info.status
        == "KILLED"
    )
    assert all(run.info.status != "RUNNING" for run in _all_runs(project))


def test_ctrl_c_while_compare_writes_finishes_the_comparison_first(project):
    run_command(["dvc", "repro"], project)
    (project / "reports" / "comparison.md").unlink()  # so a half-written comparison would show

    def writing() -> bool:
        return any((project / "reports").glob(".staging-*"))

    code, stdout, stderr = _signal_when([sys.executable, "-m", "pipeline.compare"], project, writing, signal.SIGINT)
    assert (code, stderr) == (130, "interrupted by SIGINT\n")
    assert stdout.startswith("# Variant comparison\n")  # the report is printed, then the stage acts on Ctrl-C
    assert all((project / "reports" / f"comparison.{suffix}").is_file() for suffix in ("md", "json", "png"))
    assert run_command(["dvc", "status"], project).stdout.strip() == "Data and pipelines are up to date."
    assert _leftovers(project) == []
    client = MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("fashion-mnist")
    newest = client.search_runs([experiment.experiment_id], order_by=["attributes.start_time DESC"], max_results=1)[0]
    assert newest.info.run_name == "comparison" and newest.info.status == "FINISHED"
    assert newest.data.tags["run_type"] == "comparison"


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:1000])


@pytest.mark.parametrize(
    ("broken", "message"),
    [
        (
            f"{MODEL_DIR}/model.keras",
            "is not a loadable Keras model: not a .keras (zip) file, truncated or corrupt",
        ),
        ("data/prepared/test.npz", "is not a valid split file: File is not a zip file"),
    ],
    ids=["model", "test-split"],
)
def test_a_corrupt_input_stops_evaluate_and_export_with_one_line_and_repro_recovers(project, broken, message):
    run_command(["dvc", "repro"], project)
    _truncate(project / broken)
    before = _files(project)
    run_id = json.loads((project / f"{MODEL_DIR}/mlflow_run.json").read_text())["run_id"]

    for stage, command in STAGE_COMMANDS.items():
        result = run_command(command, project, check=False)
        assert result.returncode == 2, (stage, result.stderr)
        assert result.stderr.splitlines() == [f"error: {project / broken} {message}"], stage
        assert _files(project) == before
        assert _leftovers(project) == []
    client = MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
    assert client.get_run(run_id).info.status == "FAILED"

    # DVC sees the damaged output and makes it again, or restores it from its run-cache (it ran before).
    result = run_command(["dvc", "repro"], project)
    assert "Running stage" in result.stdout or "is cached - skipping run, checking out outputs" in result.stdout
    assert _truncated_no_more(project / broken)
    assert run_command(["dvc", "status"], project).stdout.strip() == "Data and pipelines are up to date."
    assert all(run.info.status != "RUNNING" for run in _all_runs(project))


def _truncated_no_more(path: Path) -> bool:
    """Whether a file `_truncate` cut is whole again: it loads as what it is."""
    if path.suffix == ".npz":
        return len(load_split(path)[1]) > 0
    return zipfile.is_zipfile(path)


def test_outputs_are_replaced_together_or_not_at_all(tmp_path):
    old = {tmp_path / "model.keras": b"old model", tmp_path / "reports" / "history.csv": b"old history"}
    for path, content in old.items():
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(content)
    with pytest.raises(RuntimeError, match="MLflow is down"), files.staged_outputs(*old) as staged:
        for path in old:
            staged[path].write_bytes(b"new")
        raise RuntimeError("MLflow is down")
    assert {path: path.read_bytes() for path in old} == old
    assert sorted(path.name for path in tmp_path.rglob("*")) == ["history.csv", "model.keras", "reports"]


def test_ctrl_c_while_outputs_move_into_place_stops_only_once_all_are_there(tmp_path, monkeypatch):
    outputs = [tmp_path / name for name in ("model.keras", "history.csv", "training.json")]
    for path in outputs:
        path.write_text("old")
    real_replace = os.replace

    def replace_then_press_ctrl_c(source, target):
        real_replace(source, target)
        signal.raise_signal(signal.SIGINT)

    monkeypatch.setattr(files.os, "replace", replace_then_press_ctrl_c)
    with pytest.raises(KeyboardInterrupt), files.staged_outputs(*outputs) as staged:
        for path in outputs:
            staged[path].write_text("new")
    assert [path.read_text() for path in outputs] == ["new", "new", "new"]
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(path.name for path in outputs)
