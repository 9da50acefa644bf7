"""MLflow at the edge: where the store is, and the one run per variant that the stages share.

DVC owns the files; this module mirrors them into MLflow. The run id is persisted in a
train output (`models/<variant>/mlflow_run.json`), so evaluate and export add to the
same run even when DVC skipped or restored train.
"""

import fcntl
import logging
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import mlflow
import requests
from mlflow.environment_variables import (
    MLFLOW_TRACKING_CLIENT_CERT_PATH,
    MLFLOW_TRACKING_INSECURE_TLS,
    MLFLOW_TRACKING_SERVER_CERT_PATH,
)
from mlflow.exceptions import MlflowException

from pipeline.artifacts import read_json, write_json
from pipeline.errors import PipelineError
from pipeline.paths import ROOT

TRACKING_URI_ENV = "MLFLOW_TRACKING_URI"
STORE_FILE = "mlflow.db"
ARTIFACTS_DIR = "mlartifacts"

# MLflow retries a failed request to a tracking server 7 times with backoff, about 4 minutes, before
# giving up. With these a stage waits 0, 2 and 4 s between attempts (a server restart) and then
# fails. Each applies only when the user has not set it.
HTTP_REQUEST_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "3",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "20",  # seconds per attempt
}
PROBE_TIMEOUT_SECONDS = 5
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
    or a login answers too). Opening a run calls this; a stage may call it first thing.
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
    except requests.RequestException as error:
        raise PipelineError(
            f"MLflow tracking server {uri} is not reachable ({_root_cause(error)}): "
            f"start it or unset {TRACKING_URI_ENV}"
        ) from error
    _reachable_servers.add(uri)


def _use_tracking_store() -> None:
    """Point MLflow at the store; a server must answer, and its requests give up within seconds."""
    uri = tracking_uri()
    if is_server(uri):
        check_reachable(uri)
        bound_http_retries()
    mlflow.set_tracking_uri(uri)


@contextmanager
def _store_lock(uri: str) -> Iterator[None]:
    """An exclusive lock beside a local SQLite store, held while the block runs.

    A store's first use creates its tables; two stages doing that at once (`dvc queue start
    --jobs 2` before mlflow.db exists) break MLflow's schema migration ("duplicate column name",
    "Online migration expected to match one row"). `mlflow.db-lock` is git-ignored as `mlflow.db-*`.
    """
    if not uri.startswith("sqlite:///"):
        yield
        return
    with open(uri.removeprefix("sqlite:///") + "-lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _experiment_id(name: str) -> str:
    """The experiment's id, created if need be; the first call in a process opens (and may create) the store."""
    with _store_lock(mlflow.get_tracking_uri()):
        experiment = mlflow.get_experiment_by_name(name)
        if experiment is not None:
            return experiment.experiment_id
        location = None
        if mlflow.get_tracking_uri().startswith("sqlite:"):
            location = (repository_root() / ARTIFACTS_DIR).as_uri()
        return mlflow.create_experiment(name, artifact_location=location)


def git_commit() -> str:
    """The repository's HEAD commit, or "unknown" outside git."""
    result = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False)
    return result.stdout.strip() or "unknown"


def provenance_tags() -> dict[str, str]:
    """Where a run comes from: the git commit, and the DVC experiment (`dvc exp run` names it
    in $DVC_EXP_NAME)."""
    tags = {"git_commit": git_commit()}
    if name := os.environ.get("DVC_EXP_NAME"):
        tags["dvc_experiment"] = name
    return tags


def _recorded_run_id(run_file: Path) -> str | None:
    """The run id train recorded, if that run is still in the current store."""
    if not run_file.exists():
        return None
    run_id = read_json(run_file).get("run_id")
    try:
        mlflow.get_run(run_id)
    except MlflowException:
        print(
            f"warning: MLflow run {run_id} from {run_file} is not in {tracking_uri()}; starting a new run",
            file=sys.stderr,
        )
        return None
    return run_id


@contextmanager
def variant_run(variant: str, run_file: Path, experiment: str, *, new: bool, tags: dict[str, str]) -> Iterator[Any]:
    """The variant's MLflow run: a new one (train), or the one train recorded (evaluate, export).

    A stage that raises leaves the run FAILED, not RUNNING.
    """
    _use_tracking_store()
    experiment_id = _experiment_id(experiment)
    run_id = None if new else _recorded_run_id(run_file)
    all_tags = {"variant": variant, **provenance_tags(), **tags}
    with mlflow.start_run(run_id=run_id, experiment_id=experiment_id, run_name=variant, tags=all_tags) as run:
        yield run
        if new:
            write_json(run_file, {"run_id": run.info.run_id, "experiment_id": experiment_id})


@contextmanager
def summary_run(name: str, experiment: str, tags: dict[str, str]) -> Iterator[Any]:
    """A run of its own for results that span the variants, such as the comparison."""
    _use_tracking_store()
    all_tags = {**provenance_tags(), **tags}
    with mlflow.start_run(experiment_id=_experiment_id(experiment), run_name=name, tags=all_tags) as run:
        yield run


def flatten(values: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dicts as one level of dotted keys, the way `dvc metrics show` names them."""
    flat = {}
    for key, value in values.items():
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def log_metrics(metrics: Mapping[str, Any], step: int | None = None) -> None:
    """Log every numeric value of a (nested) metrics dict."""
    numeric = {k: float(v) for k, v in flatten(metrics).items() if isinstance(v, (int, float))}
    mlflow.log_metrics(numeric, step=step)


def log_params(params: Mapping[str, Any]) -> None:
    mlflow.log_params(flatten(params))


def log_artifacts(*paths: Path) -> None:
    for path in paths:
        mlflow.log_artifact(str(path))
