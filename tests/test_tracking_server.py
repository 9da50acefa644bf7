"""The stages against a real `mlflow server`, and against none at all.

Runs `python -m pipeline.<stage>` on a temporary copy of the project with real Fashion-MNIST capped to
3,000 training images and one small one-epoch variant, one seed; the server is started on 127.0.0.1 with a SQLite
backend and serves the artifacts itself.
"""

import json
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import mlflow
import numpy as np
import pytest
import yaml
from conftest import (
    REPOSITORY,
    copy_project,
    edit_params,
    free_port,
    run_command,
    stop_process_group,
    tiny_data_and_export,
    wait_for,
)
from mlflow import MlflowClient

from pipeline.core.paths import SYSTEM_DATA_DIR
from pipeline.tracking import registry

pytestmark = pytest.mark.slow  # a real `mlflow server` and the real stages

DATASET = str(SYSTEM_DATA_DIR)
SEED = yaml.safe_load((REPOSITORY / "params.yaml").read_text())["seeds"][0]  # the shipped seed: export's
COMMANDS = {"train": ["mlp", str(SEED)], "evaluate": ["mlp", str(SEED)], "export": ["mlp"]}  # their arguments
RUN_FILE = Path("models") / "mlp" / f"seed-{SEED}" / "mlflow_run.json"
REPORTS = Path("reports") / "variants" / "mlp" / f"seed-{SEED}"


def _tiny(params: dict) -> None:
    tiny_data_and_export(params)
    params["seeds"] = [SEED]
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
        wait_for(f"{uri}/health", process, log)
        yield SimpleNamespace(uri=uri, artifacts=directory / "artifacts")
    finally:
        stop_process_group(process)


def test_a_variant_run_logs_params_metrics_and_artifacts_to_a_tracking_server(project, server):
    for stage, arguments in COMMANDS.items():
        run_command([sys.executable, "-m", f"pipeline.{stage}", *arguments], project, MLFLOW_TRACKING_URI=server.uri)
    recorded = json.loads((project / RUN_FILE).read_text())
    client = MlflowClient(tracking_uri=server.uri)
    run = client.get_run(recorded["run_id"])
    assert run.info.status == "FINISHED"
    assert client.get_experiment(run.info.experiment_id).name == "fashion-mnist"
    assert run.info.run_name == f"mlp seed {SEED}"
    assert (run.data.tags["variant"], run.data.tags["seed"]) == ("mlp", str(SEED))
    assert len(run.data.tags["data_sha256"]) == 64
    assert run.data.params["variant.hidden_units"] == "(32,)" and run.data.params["data.limit"] == "3000"
    # Nested under the variant's parent run, on the server too: no files of its own.
    parent = client.get_run(run.data.tags["mlflow.parentRunId"])
    assert (parent.info.run_name, parent.data.tags["run_type"], parent.info.status) == ("mlp", "variant", "FINISHED")
    assert parent.info.experiment_id == run.info.experiment_id and client.list_artifacts(parent.info.run_id) == []
    metrics = json.loads((project / REPORTS / "metrics.json").read_text())
    assert run.data.metrics["test_accuracy"] == metrics["test_accuracy"] > 0.5
    assert run.data.metrics["parameters"] == 25_450  # 784*32+32 + 32*10+10
    assert len(client.get_metric_history(recorded["run_id"], "epoch_val_accuracy")) == 1
    artifacts = {artifact.path for artifact in client.list_artifacts(recorded["run_id"])}
    expected = {
        "history.csv",
        "learning_curves.png",
        "metrics.json",
        "predictions.csv",
        "confusion.png",
        "model.tflite",
    }
    assert expected <= artifacts
    # Through the server into its artifact store; nothing in a local store of the project.
    assert run.info.artifact_uri.startswith("mlflow-artifacts:")
    (history,) = server.artifacts.rglob("history.csv")
    assert history.read_text() == (project / REPORTS / "history.csv").read_text()
    assert not (project / "mlflow.db").exists() and not (project / "mlartifacts").exists()

    # The logged model, its datasets and its linked metrics are on the server, its files in the server's store.
    logged = client.get_logged_model(recorded["model_id"])
    assert (logged.name, logged.source_run_id) == (f"mlp-seed-{SEED}", recorded["run_id"])
    assert [path.name for path in server.artifacts.rglob("model.keras")] == ["model.keras"]
    assert {i.dataset.name for i in run.inputs.dataset_inputs} == {
        f"fashion_mnist-{s}" for s in ("train", "val", "test")
    }
    linked = {m.key: (m.value, m.dataset_name) for m in logged.metrics}
    assert linked["test_accuracy"] == (metrics["test_accuracy"], "fashion_mnist-test")


def test_the_registry_and_the_champion_live_on_the_server(project, server, monkeypatch):
    recorded = json.loads((project / RUN_FILE).read_text())
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server.uri)
    mlflow.set_tracking_uri(server.uri)
    registered = registry.register("server-classifier", recorded["model_id"], {"variant": "mlp"}, make_champion=True)
    assert registered == registry.Registration("server-classifier", "1", created=True, champion="1")
    champion = mlflow.pyfunc.load_model("models:/server-classifier@champion")  # downloaded through the server
    with np.load(project / "data" / "prepared" / "test.npz") as test:
        accuracy = float((champion.predict(test["images"]).argmax(axis=1) == test["labels"]).mean())
    metrics = json.loads((project / REPORTS / "metrics.json").read_text())
    assert round(accuracy, 6) == metrics["test_accuracy"]


def test_a_stage_stops_before_training_when_the_tracking_server_is_down(project):
    uri = f"http://127.0.0.1:{free_port()}"
    started = time.monotonic()
    result = run_command(
        [sys.executable, "-m", "pipeline.train", "mlp_dropout", str(SEED)],
        project,
        check=False,
        MLFLOW_TRACKING_URI=uri,
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
