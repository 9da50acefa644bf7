"""A shared tracking server on PostgreSQL (`make tracking-server`), for real.

scripts/tracking_server.py starts a real PostgreSQL cluster and a real `mlflow server` on free loopback
ports in a temporary directory. A git copy of the project with two small one-epoch MLP variants (one seed
each) and real Fashion-MNIST capped to 3,000 training images logs to it, only MLFLOW_TRACKING_URI pointing there:
`dvc repro`, then two queued experiments run two at a time. Every run must land once, whole, in the
server's database and artifact store, and still be there after both servers restart.
"""

import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

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
    run_queue,
    small_pipeline,
)
from mlflow import MlflowClient
from servers import TRACKING_SERVER, tracking_server

from pipeline.core.paths import SYSTEM_DATA_DIR

pytestmark = pytest.mark.slow  # real PostgreSQL and `mlflow server` processes, `dvc repro` and a queue

DATASET = str(SYSTEM_DATA_DIR)
VARIANTS = SMALL_VARIANTS
HIDDEN_UNITS = SMALL_HIDDEN_UNITS
SEED = yaml.safe_load((REPOSITORY / "params.yaml").read_text())["seeds"][0]  # small_pipeline's only seed
SEED_RUNS = tuple(f"{variant} seed {SEED}" for variant in VARIANTS)
TRAIN = [sys.executable, "-m", "pipeline.train", "mlp", str(SEED)]
EXPERIMENTS = {"wide": 24, "narrow": 8}  # name: both variants' hidden units (none is the main run's: no run cache)
GIVE_UP_SECONDS = 1800  # only so that a hung queue fails the test instead of blocking the suite
METRICS = ("train_seconds", "test_accuracy", "tflite.float32.accuracy")  # train, evaluate, export


@pytest.fixture(scope="module")
def server():
    with tracking_server() as running_server:
        yield running_server


@pytest.fixture(scope="module")
def logged(server, tmp_path_factory) -> Path:
    """A git copy of the project after `dvc repro` and two queued experiments run two at a time, all
    logged to the server; its root."""
    root = copy_project(tmp_path_factory.mktemp("project")).resolve()
    edit_params(root, small_pipeline)
    init_git(root)
    env = {"FASHION_MNIST_DIR": DATASET, "MLFLOW_TRACKING_URI": server.uri}
    run_command(["dvc", "repro"], root, **env)
    for name, units in EXPERIMENTS.items():
        changes = [arg for variant in VARIANTS for arg in ("-S", f"variants.{variant}.hidden_units=[{units}]")]
        run_command(["dvc", "exp", "run", "--queue", *changes, "--name", name], root, **env)
    statuses = run_queue(root, EXPERIMENTS, GIVE_UP_SECONDS, **env)
    logs = {name: run_command(["dvc", "queue", "logs", name], root, check=False).stdout for name in EXPERIMENTS}
    assert statuses == dict.fromkeys(EXPERIMENTS, "Success"), logs
    return root


def _counts(uri: str) -> dict[str, int]:
    """What the server holds, counted."""
    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("fashion-mnist")
    runs = client.search_runs([experiment.experiment_id])
    return {
        "runs": len(runs),
        "finished": sum(run.info.status == "FINISHED" for run in runs),
        "logged models": len(client.search_logged_models(experiment_ids=[experiment.experiment_id])),
        "versions": len(client.search_model_versions("name = 'fashion-mnist-classifier'")),
        "test_accuracy values": sum(len(client.get_metric_history(r.info.run_id, "test_accuracy")) for r in runs),
    }


def test_every_run_lands_once_on_the_server_and_outlives_a_restart(server, logged):
    client = MlflowClient(tracking_uri=server.uri)
    experiment = client.get_experiment_by_name("fashion-mnist")
    runs = client.search_runs([experiment.experiment_id])
    for name in (None, *EXPERIMENTS):  # the workspace's `dvc repro`, then each experiment
        # Each variant's seed run and the parent run of its recipe (new in every experiment: other hidden units).
        ran = [run for run in runs if run.data.tags.get("dvc_experiment") == name]
        assert sorted(run.info.run_name for run in ran) == sorted([*VARIANTS, *SEED_RUNS, "comparison"]), name
        assert {run.info.status for run in ran} == {"FINISHED"}, name
        parents = {run.info.run_id: run for run in ran if run.data.tags.get("run_type") == "variant"}
        assert sorted(run.info.run_name for run in parents.values()) == sorted(VARIANTS), name
        for run in ran:
            if run.info.run_name in SEED_RUNS:
                parent = parents[run.data.tags["mlflow.parentRunId"]]
                assert parent.info.run_name == run.data.tags["variant"], (name, run.info.run_name)
        for parent in parents.values():  # its seeds' mean and spread (compare's), no files of its own
            assert client.list_artifacts(parent.info.run_id) == [], (name, parent.info.run_name)
            assert len(client.get_metric_history(parent.info.run_id, "test_accuracy")) == 1, (
                name,
                parent.info.run_name,
            )
    seed_runs = [run for run in runs if run.info.run_name in SEED_RUNS]
    for run in seed_runs:
        assert run.info.artifact_uri.startswith("mlflow-artifacts:")
        for metric in METRICS:
            assert len(client.get_metric_history(run.info.run_id, metric)) == 1, (run.info.run_name, metric)
        assert {i.dataset.name for i in run.inputs.dataset_inputs} == {
            f"fashion_mnist-{s}" for s in ("train", "val", "test")
        }
    # The files are in the server's artifact store, none in the project; each seed run's (SEED is the shipped
    # seed, so export logged its .tflite files to every seed run).
    for name in ("history.csv", "model.tflite"):
        assert len(list(server.artifacts.rglob(name))) == len(seed_runs), name
    assert not list(logged.rglob("mlflow.db")) and not list(logged.rglob("mlartifacts"))
    models = client.search_logged_models(experiment_ids=[experiment.experiment_id])
    assert sorted(m.source_run_id for m in models) == sorted(run.info.run_id for run in seed_runs)
    versions = client.search_model_versions("name = 'fashion-mnist-classifier'")
    assert len(versions) == 1 + len(EXPERIMENTS)  # each compare's best is a new model
    assert {v.source.removeprefix("models:/") for v in versions} <= {m.model_id for m in models}

    before = _counts(server.uri)
    server.stop()
    assert not server.survivors()
    server.start()  # the same directory, new ports
    assert _counts(server.uri) == before
    assert "creating a PostgreSQL cluster" not in server.log.read_text()  # reused


def _stop_database(server) -> None:
    from scripts.tracking_server import postgres_bindir, stop_cluster

    assert stop_cluster(postgres_bindir(), server.directory / "pgdata")


def _start_database(server) -> None:
    from scripts.tracking_server import postgres_bindir, start_cluster

    start_cluster(postgres_bindir(), server.directory / "pgdata", server.db_port)


def test_a_stage_fails_in_one_line_while_the_database_is_down_and_runs_once_it_is_back(server, tmp_path):
    root = copy_project(tmp_path)
    edit_params(root, small_pipeline)
    for stage in ("fetch", "preprocess"):
        run_command([sys.executable, "-m", f"pipeline.{stage}"], root, FASHION_MNIST_DIR=DATASET)
    _stop_database(server)  # the mlflow server stays up
    try:
        started = time.monotonic()
        down = run_command(TRAIN, root, check=False, MLFLOW_TRACKING_URI=server.uri)
        print(f"train with the database down: exit {down.returncode} after {time.monotonic() - started:.1f} s")
        print(down.stderr)
        outputs = (root / "models" / "mlp", root / "reports" / "variants" / "mlp", root / "mlflow.db")
        written = [str(path.relative_to(root)) for path in outputs if path.exists()]
    finally:
        _start_database(server)
    run_command(TRAIN, root, MLFLOW_TRACKING_URI=server.uri)  # once the database is back
    recorded = json.loads((root / "models" / "mlp" / f"seed-{SEED}" / "mlflow_run.json").read_text())
    assert MlflowClient(tracking_uri=server.uri).get_run(recorded["run_id"]).info.status == "FINISHED"

    assert down.returncode == 2
    assert not written
    (line,) = down.stderr.splitlines()  # the server times out, or answers 503 once it gave up on the database
    assert re.fullmatch(
        rf"error: MLflow tracking server {re.escape(server.uri)} is up but its API fails "
        r"\((no answer within 5 s|HTTP 50[0234])\): its backend store \(database\) is probably down or unreachable; "
        r"see the server's log, fix it and rerun",
        line,
    ), line


# What goes away mid-training, and how it comes back: the server with its database (then restarted, on
# new ports), or the database alone under a running server.
OUTAGES = {
    "server": (lambda server: server.stop(), lambda server: server.start()),
    "database": (_stop_database, _start_database),
}


@pytest.mark.parametrize("outage", OUTAGES)
def test_a_server_or_database_that_goes_down_mid_training_stops_the_stage_in_one_line_and_no_run_stays_running(
    server, tmp_path, outage
):
    stop, start = OUTAGES[outage]
    root = copy_project(tmp_path)
    edit_params(root, lambda params: (small_pipeline(params), params["variants"]["mlp"].update(epochs=100)))
    for stage in ("fetch", "preprocess"):
        run_command([sys.executable, "-m", f"pipeline.{stage}"], root, FASHION_MNIST_DIR=DATASET)
    env = command_env(MLFLOW_TRACKING_URI=server.uri)
    process = subprocess.Popen(TRAIN, cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for line in process.stdout:  # training has begun, its run is open on the server
            if line.startswith("Epoch"):
                break
        started = time.monotonic()
        stop(server)  # goes away mid-run...
        _, stderr = process.communicate(timeout=300)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        start(server)  # ...and comes back
    print(f"train with the {outage} gone: exit {process.returncode} {time.monotonic() - started:.1f} s after it went")
    print(stderr)
    old_uri = env["MLFLOW_TRACKING_URI"]
    assert process.returncode == 2
    (line,) = stderr.splitlines()
    assert line.startswith(f"error: MLflow tracking store {old_uri} failed: ")
    assert line.endswith(": check that it (and its database) is up, then rerun")
    assert not (root / "models" / "mlp").exists() and not (root / "reports" / "variants" / "mlp").exists()

    rerun = run_command(TRAIN, root, MLFLOW_TRACKING_URI=server.uri)  # the next run, once the server is back
    client = MlflowClient(tracking_uri=server.uri)
    experiment = client.get_experiment_by_name("fashion-mnist")
    runs = client.search_runs([experiment.experiment_id], filter_string=f"attributes.run_name = 'mlp seed {SEED}'")
    assert len(runs) >= 2, [run.info.run_name for run in runs]  # the cut-off run and the rerun
    assert "RUNNING" not in {run.info.status for run in runs}, rerun.stderr  # the cut-off one: KILLED by the rerun
    recorded = json.loads((root / "models" / "mlp" / f"seed-{SEED}" / "mlflow_run.json").read_text())
    assert client.get_run(recorded["run_id"]).info.status == "FINISHED"


def test_a_taken_port_or_an_unreachable_directory_is_one_line(tmp_path):
    start = [sys.executable, str(TRACKING_SERVER), "start", "--dir", str(tmp_path / "server")]
    taken = free_port()
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", taken))
        listener.listen()
        result = run_command([*start, "--port", str(taken)], tmp_path, check=False)
    assert result.returncode == 2
    assert (
        result.stderr
        == f"error: port {taken} for the tracking server is taken (Address already in use): pick another with --port\n"
    )
    if os.geteuid() != 0:
        return
    # pytest's temporary directories are root's alone (mode 0700): PostgreSQL's user cannot reach one.
    private = next(path for path in (tmp_path, *tmp_path.parents) if not path.stat().st_mode & 0o001)
    result = run_command([*start, "--port", str(free_port())], tmp_path, check=False)
    assert result.returncode == 2
    assert result.stderr.startswith(f"error: {private} is not reachable by the 'postgres' user")
    assert result.stderr.endswith(f"chmod o+x {private}, or pick a --dir elsewhere\n")
    assert not (tmp_path / "server").exists()
