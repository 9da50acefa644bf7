"""Where the MLflow tracking store is, and whether it answers: its URI, a quick probe of a server, the UI's address.

The store is $MLFLOW_TRACKING_URI, else the SQLite file that plain `mlflow ui` reads at the repository root.
A tracking server that does not answer stops a stage in seconds, before its work, with one line naming it.
"""

import logging
import os
from collections.abc import Mapping, MutableMapping
from pathlib import Path

import mlflow
import requests
from mlflow.environment_variables import (
    MLFLOW_TRACKING_CLIENT_CERT_PATH,
    MLFLOW_TRACKING_INSECURE_TLS,
    MLFLOW_TRACKING_SERVER_CERT_PATH,
)

from pipeline.core.errors import PipelineError
from pipeline.core.paths import ROOT
from pipeline.tracking import credentials

TRACKING_URI_ENV = "MLFLOW_TRACKING_URI"
STORE_FILE = "mlflow.db"
ARTIFACTS_DIR = "mlartifacts"
UI_PORT = 5000  # `mlflow ui`'s default

# MLflow retries a failed request to a tracking server 7 times with backoff, about 4 minutes, before
# giving up. With these a stage waits 0, 2 and 4 s between attempts (a server restart) and then
# fails. Each applies only when the user has not set it.
HTTP_REQUEST_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "3",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "20",  # seconds per attempt
}
PROBE_TIMEOUT_SECONDS = 5
SERVER_DOWN_STATUSES = {500, 502, 503, 504}  # what a server (or its proxy) answers when its store is down
_reachable_servers: set[str] = set()

for _noisy in ("mlflow", "alembic"):
    logging.getLogger(_noisy).setLevel(logging.WARNING)


def repository_root(root: Path = ROOT) -> Path:
    """The user's repository, also from inside DVC's temporary experiment copies.

    `dvc exp run --queue` runs stages in `<repo>/.dvc/tmp/exps/<tmp>/`; a store relative
    to that copy would vanish with it, so runs go to the repository's own store.
    """
    parts = root.parts
    for index in range(len(parts) - 2):
        if parts[index : index + 3] == (".dvc", "tmp", "exps"):
            return Path(*parts[:index])
    return root


def tracking_uri(environ: Mapping[str, str] = os.environ) -> str:
    """$MLFLOW_TRACKING_URI, or the SQLite store that plain `mlflow ui` reads at the repository root."""
    return environ.get(TRACKING_URI_ENV) or f"sqlite:///{repository_root() / STORE_FILE}"


def is_server(uri: str) -> bool:
    """Whether the tracking URI names a tracking server (rather than a local store)."""
    return uri.startswith(("http://", "https://"))


def bound_http_retries(environ: MutableMapping[str, str] = os.environ) -> None:
    """Set HTTP_REQUEST_DEFAULTS in `environ`, where MLflow reads them, unless already set."""
    for name, value in HTTP_REQUEST_DEFAULTS.items():
        environ.setdefault(name, value)


def _root_cause(error: BaseException) -> str:
    """The innermost system error of a failed request, e.g. "Connection refused"."""
    if isinstance(error, requests.Timeout):
        return f"no answer within {PROBE_TIMEOUT_SECONDS} s"
    reason = str(error)
    while (error := error.__cause__ or error.__context__) is not None:
        if isinstance(error, OSError) and error.strerror:
            reason = str(error.strerror)
    return reason


def check_reachable(uri: str | None = None) -> None:
    """Stop the stage in seconds, before any expensive work, when the tracking server does not answer.

    Only http(s) URIs are probed, once per process; any HTTP answer counts (a server behind a proxy
    answers too), except a refusal of the login (401, 403) or of the server's TLS certificate, which
    stops the stage in one line too. Opening a run calls this; a stage may call it first thing.
    """
    uri = uri or tracking_uri()
    if not is_server(uri) or uri in _reachable_servers:
        return
    verify = MLFLOW_TRACKING_SERVER_CERT_PATH.get() or not MLFLOW_TRACKING_INSECURE_TLS.get()
    try:
        requests.get(
            f"{uri.rstrip('/')}/health",
            timeout=PROBE_TIMEOUT_SECONDS,
            verify=verify,
            cert=MLFLOW_TRACKING_CLIENT_CERT_PATH.get(),
        )
    except requests.exceptions.SSLError as error:
        raise credentials.untrusted_certificate(uri, error) from None
    except requests.RequestException as error:
        raise PipelineError(
            f"MLflow tracking server {uri} is not reachable ({_root_cause(error)}): "
            f"start it or unset {TRACKING_URI_ENV}"
        ) from error
    _check_api(uri, verify)
    _reachable_servers.add(uri)


def _check_api(uri: str, verify) -> None:
    """A server whose backend store (its database) is down still answers /health, but its API takes
    minutes to fail: ask it one cheap question, with the probe's timeout and the stage's login."""
    try:
        answer = requests.get(
            f"{uri.rstrip('/')}/api/2.0/mlflow/experiments/search",
            params={"max_results": 1},
            timeout=PROBE_TIMEOUT_SECONDS,
            verify=verify,
            cert=MLFLOW_TRACKING_CLIENT_CERT_PATH.get(),
            auth=credentials.login(),
        )
    except requests.RequestException as error:
        answer, reason = None, _root_cause(error)
    else:
        reason = f"HTTP {answer.status_code}"
        credentials.check_answer(uri, answer)
    if answer is None or answer.status_code in SERVER_DOWN_STATUSES:
        raise PipelineError(
            f"MLflow tracking server {uri} is up but its API fails ({reason}): its backend store (database) is "
            "probably down or unreachable; see the server's log, fix it and rerun"
        )


def use_tracking_store() -> None:
    """Point MLflow at the store; a server must answer, and its requests give up within seconds."""
    uri = tracking_uri()
    if is_server(uri):
        check_reachable(uri)
        bound_http_retries()
    mlflow.set_tracking_uri(uri)


def runs_url(experiment_id: str, uri: str | None = None) -> str:
    """The experiment's runs in the UI's *Model training* view (the UI opens on GenAI otherwise)."""
    uri = uri or tracking_uri()
    base = uri.rstrip("/") if is_server(uri) else f"http://127.0.0.1:{UI_PORT}"
    return f"{base}/#/experiments/{experiment_id}/runs?workflowType=machine_learning"
