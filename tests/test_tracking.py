import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import mlflow
import pytest
from conftest import free_port

from pipeline import tracking
from pipeline.errors import PipelineError


@pytest.fixture
def store(tmp_path, monkeypatch):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv(tracking.TRACKING_URI_ENV, uri)
    yield uri
    while mlflow.active_run():
        mlflow.end_run()


def test_store_defaults_to_the_repository_root(monkeypatch):
    monkeypatch.delenv(tracking.TRACKING_URI_ENV, raising=False)
    assert tracking.tracking_uri() == f"sqlite:///{tracking.repository_root() / 'mlflow.db'}"
    assert tracking.tracking_uri({"MLFLOW_TRACKING_URI": "http://127.0.0.1:5000"}) == "http://127.0.0.1:5000"


def test_queued_experiments_log_to_the_repository_store():
    copy = Path("/home/me/project/.dvc/tmp/exps/tmpab12cd")
    assert tracking.repository_root(copy) == Path("/home/me/project")
    assert tracking.repository_root(Path("/home/me/project")) == Path("/home/me/project")


def test_stages_of_a_variant_share_one_run(store, tmp_path):
    run_file = tmp_path / "mlflow_run.json"
    with tracking.variant_run("cnn", run_file, "test-exp", new=True, tags={"data_sha256": "abc"}) as run:
        tracking.log_params({"variant": {"model": "cnn", "dropout": 0.2}})
        tracking.log_metrics({"epoch_accuracy": 0.5}, step=1)
    recorded = json.loads(run_file.read_text())["run_id"]
    assert recorded == run.info.run_id
    with tracking.variant_run("cnn", run_file, "test-exp", new=False, tags={}) as resumed:
        tracking.log_metrics({"test_accuracy": 0.9, "per_class": {"Bag": {"f1": 0.8}}, "note": "text"})
    assert resumed.info.run_id == recorded
    finished = mlflow.get_run(recorded)
    assert finished.info.status == "FINISHED"
    assert finished.data.params == {"variant.model": "cnn", "variant.dropout": "0.2"}
    assert finished.data.metrics == {"epoch_accuracy": 0.5, "test_accuracy": 0.9, "per_class.Bag.f1": 0.8}
    assert finished.data.tags["variant"] == "cnn" and finished.data.tags["data_sha256"] == "abc"
    assert len(mlflow.search_runs(experiment_names=["test-exp"])) == 1


def test_a_failing_stage_leaves_its_run_failed_and_no_run_file(store, tmp_path):
    run_file = tmp_path / "mlflow_run.json"
    with pytest.raises(RuntimeError), tracking.variant_run("mlp", run_file, "test-exp", new=True, tags={}) as run:
        raise RuntimeError("crash mid-training")
    assert mlflow.get_run(run.info.run_id).info.status == "FAILED"
    assert not run_file.exists()


def test_a_run_missing_from_the_store_is_replaced_by_a_new_one(store, tmp_path, capsys):
    run_file = tmp_path / "mlflow_run.json"
    run_file.write_text(json.dumps({"run_id": "0" * 32}))
    with tracking.variant_run("mlp", run_file, "test-exp", new=False, tags={}) as run:
        pass
    assert run.info.run_id != "0" * 32
    assert "is not in" in capsys.readouterr().err


def test_a_server_that_is_down_stops_the_stage_with_one_line_naming_it():
    uri = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(PipelineError) as error:
        tracking.check_reachable(uri)
    assert str(error.value) == (
        f"MLflow tracking server {uri} is not reachable (Connection refused): start it or unset MLFLOW_TRACKING_URI"
    )


def test_no_run_is_opened_and_no_run_file_written_when_the_server_is_down(monkeypatch, tmp_path):
    monkeypatch.setenv(tracking.TRACKING_URI_ENV, f"http://127.0.0.1:{free_port()}")
    run_file = tmp_path / "mlflow_run.json"
    with (
        pytest.raises(PipelineError, match="is not reachable"),
        tracking.variant_run("mlp", run_file, "test-exp", new=True, tags={}),
    ):
        pytest.fail("the stage's work ran")
    assert not run_file.exists()
    assert mlflow.active_run() is None


def test_any_http_answer_counts_as_reachable_and_local_stores_are_not_probed():
    probes = []

    class NotImplementedHandler(BaseHTTPRequestHandler):  # answers every GET with 501
        def do_GET(self):
            probes.append(self.path)
            self.send_error(501)

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), NotImplementedHandler)
    thread = threading.Thread(target=server.handle_request)
    thread.start()
    uri = f"http://127.0.0.1:{server.server_port}/"
    try:
        tracking.check_reachable(uri)  # no error: a 501 is an answer
    finally:
        thread.join(timeout=10)
        server.server_close()
    assert probes == ["/health"]
    tracking.check_reachable(uri)  # gone now, but checked once per process: no error, no second probe
    tracking.check_reachable("sqlite:///nowhere/mlflow.db")  # a local store is never probed
    assert probes == ["/health"]


def test_http_retries_are_bounded_unless_the_user_set_them():
    environ = {"MLFLOW_HTTP_REQUEST_TIMEOUT": "300"}
    tracking.bound_http_retries(environ)
    assert environ == {
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "3",
        "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
        "MLFLOW_HTTP_REQUEST_TIMEOUT": "300",
    }
