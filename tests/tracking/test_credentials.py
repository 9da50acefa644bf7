from http.server import BaseHTTPRequestHandler

import pytest
import requests
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import PERMISSION_DENIED, UNAUTHENTICATED
from servers import answering_twice

from pipeline.core.errors import PipelineError
from pipeline.tracking import credentials, store

SEARCH = "GET /api/2.0/mlflow/experiments/search"
SET_LOGIN = (
    "set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD (or write them to ~/.mlflow/credentials) to the ones "
    "the server's admin gave you"
)


@pytest.fixture
def no_login(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.mlflow/credentials
    for name in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):
        monkeypatch.delenv(name, raising=False)


def _probe(status: int, body: bytes = b"Unauthorized") -> tuple[str, str, list]:
    """Probe a stand-in server whose /health answers and whose API refuses with `status`: its address, the
    stage's line, the Authorization headers it was sent."""
    sent = []

    class Refusing(BaseHTTPRequestHandler):
        def do_GET(self):
            sent.append(self.headers.get("Authorization"))
            self.send_response(200 if self.path == "/health" else status)
            self.end_headers()
            self.wfile.write(b"OK" if self.path == "/health" else body)

        def log_message(self, *args):
            pass

    with answering_twice(Refusing) as uri, pytest.raises(PipelineError) as raised:
        store.check_reachable(uri)
    return uri, str(raised.value), sent


def test_a_server_that_wants_a_login_stops_the_stage_in_one_line_saying_what_to_set(no_login):
    uri, line, sent = _probe(401)
    assert line == f"MLflow tracking server {uri} refused a request without a login (HTTP 401, {SEARCH}): {SET_LOGIN}"
    assert sent == [None, None]


def test_a_wrong_password_names_the_user_and_the_login_is_sent_to_the_probe(no_login, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "alice")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "not-her-password")
    uri, line, sent = _probe(401)
    assert line == (
        f"MLflow tracking server {uri} refused user 'alice' (HTTP 401, {SEARCH}: wrong user name or password): "
        f"{SET_LOGIN}"
    )
    assert sent[1] == requests.auth._basic_auth_str("alice", "not-her-password")


def test_the_login_may_come_from_the_credentials_file(no_login, tmp_path):
    (tmp_path / ".mlflow").mkdir()
    (tmp_path / ".mlflow" / "credentials").write_text(
        "[mlflow]\nmlflow_tracking_username = bob\nmlflow_tracking_password = bobs-password\n"
    )
    assert credentials.login() == ("bob", "bobs-password")
    uri, line, _ = _probe(403, b"Permission denied")
    assert line == (
        f"MLflow tracking server {uri} refused user 'bob' permission for {SEARCH} (HTTP 403): ask its admin for the "
        "edit role (make tracking-user NAME=bob ROLE=edit), or set MLFLOW_TRACKING_USERNAME and "
        "MLFLOW_TRACKING_PASSWORD to an editor's"
    )


def test_a_host_name_the_server_does_not_allow_is_told_apart(no_login):
    uri, line, _ = _probe(403, b"Invalid Host header - possible DNS rebinding attack detected")
    assert line.startswith(f"MLflow tracking server {uri} refused the host name in the address (HTTP 403, {SEARCH}")


def test_a_refused_mlflow_request_becomes_one_line_and_other_failures_do_not(no_login, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "bob")
    uri = "https://mlflow.team.lan:5000"
    denied = MlflowException(
        "API request to endpoint /api/2.0/mlflow/runs/create failed with error code 403 != 200. "
        "Response body: 'Permission denied'",
        error_code=PERMISSION_DENIED,
    )
    assert str(credentials.refused_request(uri, denied)).startswith(
        f"MLflow tracking server {uri} refused user 'bob' permission for /api/2.0/mlflow/runs/create (HTTP 403): "
    )
    unknown = MlflowException("API request to endpoint /api/2.0/mlflow/runs/create failed", error_code=UNAUTHENTICATED)
    assert "(HTTP 401, /api/2.0/mlflow/runs/create: wrong user name or password)" in str(
        credentials.refused_request(uri, unknown)
    )
    assert credentials.refused_request(uri, MlflowException("database is locked")) is None
