import time
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import mlflow
import pytest
from conftest import free_port
from servers import answering_twice

from pipeline.core.errors import PipelineError
from pipeline.tracking import store


def test_store_defaults_to_the_repository_root(monkeypatch):
    monkeypatch.delenv(store.TRACKING_URI_ENV, raising=False)
    assert store.tracking_uri() == f"sqlite:///{store.repository_root() / store.STORE_FILE}"
    assert store.tracking_uri({store.TRACKING_URI_ENV: "http://127.0.0.1:5000"}) == "http://127.0.0.1:5000"


def test_queued_experiments_log_to_the_repository_store():
    copy = Path("/home/me/project/.dvc/tmp/exps/tmpab12cd")
    assert store.repository_root(copy) == Path("/home/me/project")
    assert store.repository_root(Path("/home/me/project")) == Path("/home/me/project")


def test_only_http_uris_name_a_server():
    assert store.is_server("http://127.0.0.1:5000") and store.is_server("https://mlflow.example.com")
    assert not store.is_server("sqlite:///mlflow.db") and not store.is_server("file:///tmp/mlruns")


def test_the_runs_link_opens_the_model_training_view():
    assert store.runs_url("7", "sqlite:///mlflow.db") == (
        f"http://127.0.0.1:{store.UI_PORT}/#/experiments/7/runs?workflowType=machine_learning"
    )
    assert store.runs_url("7", "https://mlflow.example.com/") == (
        "https://mlflow.example.com/#/experiments/7/runs?workflowType=machine_learning"
    )


def test_a_server_that_is_down_stops_the_stage_with_one_line_naming_it():
    uri = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(PipelineError) as error:
        store.check_reachable(uri)
    assert str(error.value) == (
        f"MLflow tracking server {uri} is not reachable (Connection refused): start it or unset MLFLOW_TRACKING_URI"
    )


def test_any_http_answer_counts_as_reachable_and_local_stores_are_not_probed():
    probes = []

    class NotImplementedHandler(BaseHTTPRequestHandler):  # answers every GET with 501
        def do_GET(self):
            probes.append(self.path)
            self.send_error(501)

        def log_message(self, *args):
            pass

    with answering_twice(NotImplementedHandler) as address:
        uri = f"{address}/"
        store.check_reachable(uri)  # no error: a 501 is an answer
    asked = ["/health", "/api/2.0/mlflow/experiments/search?max_results=1"]
    assert probes == asked
    store.check_reachable(uri)  # gone now, but checked once per process: no error, no second probe
    store.check_reachable("sqlite:///nowhere/mlflow.db")  # a local store is never probed
    assert probes == asked


def test_a_server_whose_database_is_down_stops_the_stage_in_seconds(monkeypatch):
    class DatabaseDownHandler(BaseHTTPRequestHandler):  # /health is fine, the API hangs (as with PostgreSQL down)
        def do_GET(self):
            if self.path != "/health":
                time.sleep(3)
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    monkeypatch.setattr(store, "PROBE_TIMEOUT_SECONDS", 1)
    with answering_twice(DatabaseDownHandler) as uri, pytest.raises(PipelineError) as raised:
        store.check_reachable(uri)
    assert str(raised.value) == (
        f"MLflow tracking server {uri} is up but its API fails (no answer within 1 s): its backend store (database) "
        "is probably down or unreachable; see the server's log, fix it and rerun"
    )


def test_http_retries_are_bounded_unless_the_user_set_them():
    environ = {"MLFLOW_HTTP_REQUEST_TIMEOUT": "300"}
    store.bound_http_retries(environ)
    assert environ == {**store.HTTP_REQUEST_DEFAULTS, "MLFLOW_HTTP_REQUEST_TIMEOUT": "300"}
    assert store.HTTP_REQUEST_DEFAULTS["MLFLOW_HTTP_REQUEST_TIMEOUT"] != "300"  # the user's value won


def test_mlflow_is_pointed_at_the_store(tmp_path, monkeypatch):
    uri = f"sqlite:///{tmp_path / store.STORE_FILE}"
    monkeypatch.setenv(store.TRACKING_URI_ENV, uri)
    store.use_tracking_store()
    assert mlflow.get_tracking_uri() == uri


def test_mlflow_is_not_pointed_at_a_server_that_is_down(tmp_path, monkeypatch):
    before = f"sqlite:///{tmp_path / store.STORE_FILE}"
    mlflow.set_tracking_uri(before)
    uri = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv(store.TRACKING_URI_ENV, uri)
    with pytest.raises(PipelineError, match=f"^MLflow tracking server {uri} is not reachable "):
        store.use_tracking_store()
    assert mlflow.get_tracking_uri() == before
