"""The stages against a real `mlflow server`, and against none at all.

Runs `python -m pipeline.<stage>` on a temporary copy of the project with real Fashion-MNIST capped to
3,000 training images and one small one-epoch variant; the server is started on 127.0.0.1 with a SQLite
backend and serves the artifacts itself.
"""

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import requests
from conftest import copy_project, edit_params, free_port, run_command
from mlflow import MlflowClient

from pipeline.paths import SYSTEM_DATA_DIR

pytestmark = pytest.mark.slow  # a real `mlflow server` and the real stages

DATASET = str(SYSTEM_DATA_DIR)
SERVER_START_SECONDS = 120  # the first start creates the database: about 12 s on 2 busy cores


def _tiny(params: dict) -> None:
    params["data"]["limit"] = 3000
    for spec in params["variants"].values():
        spec["epochs"] = 1
    params["variants"]["mlp"]["hidden_units"] = [32]


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A copy of the project with its data fetched and prepared, no model trained yet."""
    root = copy_project(tmp_path_factory.mktemp("project"))
    edit_params(root, _tiny)
    for stage in ("fetch", "preprocess"):
        run_command([sys.executable, "-m", f"pipeline.{stage}"], root, FASHION_MNIST_DIR=DATASET)
    return root


def _wait_until_healthy(uri: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + SERVER_START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"mlflow server exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if requests.get(f"{uri}/health", timeout=2).ok:
                return
        except requests.RequestException:  # not listening yet
            pass
        time.sleep(0.5)
    pytest.fail(f"mlflow server did not answer within {SERVER_START_SECONDS} s:\n{log.read_text()[-3000:]}")


def _stop(process: subprocess.Popen) -> None:
    """Stop the server and the workers it started, its own process group; what is slow to exit is killed."""
    with contextlib.suppress(ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=5)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A real `mlflow server` with a SQLite backend that serves the artifacts (stored in `artifacts`)."""
    directory = tmp_path_factory.mktemp("mlflow-server")
    port, log = free_port(), directory / "server.log"
    command = [
        str(Path(sys.executable).parent / "mlflow"),
        "server",
        "--host=127.0.0.1",
        f"--port={port}",
        "--workers=1",
        f"--backend-store-uri=sqlite:///{directory / 'server.db'}",
        f"--artifacts-destination={directory / 'artifacts'}",
        "--serve-artifacts",
    ]
    with log.open("w") as output:
        process = subprocess.Popen(
            command, cwd=directory, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        uri = f"http://127.0.0.1:{port}"
        _wait_until_healthy(uri, process, log)
        yield SimpleNamespace(uri=uri, artifacts=directory / "artifacts")
    finally:
        _stop(process)


def test_a_variant_run_logs_params_metrics_and_artifacts_to_a_tracking_server(project, server):
    for stage in ("train", "evaluate"):
        run_command([sys.executable, "-m", f"pipeline.{stage}", "mlp"], project, MLFLOW_TRACKING_URI=server.uri)
    run_id = json.loads((project / "models" / "mlp" / "mlflow_run.json").read_text())["run_id"]
    client = MlflowClient(tracking_uri=server.uri)
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert client.get_experiment(run.info.experiment_id).name == "fashion-mnist"
    assert run.data.tags["variant"] == "mlp" and len(run.data.tags["data_sha256"]) == 64
    assert run.data.params["variant.hidden_units"] == "(32,)" and run.data.params["data.limit"] == "3000"
    metrics = json.loads((project / "reports" / "variants" / "mlp" / "metrics.json").read_text())
    assert run.data.metrics["test_accuracy"] == metrics["test_accuracy"] > 0.5
    assert run.data.metrics["parameters"] == 25_450  # 784*32+32 + 32*10+10
    assert len(client.get_metric_history(run_id, "epoch_val_accuracy")) == 1
    artifacts = {artifact.path for artifact in client.list_artifacts(run_id)}
    assert {"model.keras", "history.csv", "learning_curves.png", "metrics.json", "confusion.png"} <= artifacts
    # Through the server into its artifact store; nothing in a local store of the project.
    assert run.info.artifact_uri.startswith("mlflow-artifacts:")
    assert [path.name for path in server.artifacts.rglob("model.keras")] == ["model.keras"]
    (history,) = server.artifacts.rglob("history.csv")
    assert history.read_text() == (project / "reports" / "variants" / "mlp" / "history.csv").read_text()
    assert not (project / "mlflow.db").exists() and not (project / "mlartifacts").exists()


def test_a_stage_stops_before_training_when_the_tracking_server_is_down(project):
    uri = f"http://127.0.0.1:{free_port()}"
    started = time.monotonic()
    result = run_command(
        [sys.executable, "-m", "pipeline.train", "mlp_dropout"], project, check=False, MLFLOW_TRACKING_URI=uri
    )
    print(f"train with the server down: exit {result.returncode} after {time.monotonic() - started:.1f} s")
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"error: MLflow tracking server {uri} is not reachable (")
    assert line.endswith("): start it or unset MLFLOW_TRACKING_URI")
    assert not (project / "models" / "mlp_dropout").exists()
    assert not (project / "reports" / "variants" / "mlp_dropout").exists()
    assert not (project / "mlflow.db").exists()
