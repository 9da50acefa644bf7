"""MLflow at the edge: where the store is, and the one run per variant that the stages share.

DVC owns the files; this module mirrors them into MLflow. The run id, and the id of the model
train logged, are persisted in a train output (`models/<variant>/mlflow_run.json`), so evaluate
and export add to the same run, and link their metrics to that model, even when DVC skipped or
restored train.

Every run records the host and process that opened it last. A stage killed outright (SIGKILL: the
OOM killer, a cancelled CI job) cannot close its run; the next stage that opens a run on that host
marks such a run KILLED once its process is gone.
"""

import dataclasses
import fcntl
import logging
import os
import socket
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
UI_PORT = 5000  # `mlflow ui`'s default
# Where a run's process is, so a run whose process was killed outright can be told from a live one.
HOST_TAG, PID_TAG, STARTED_TAG = "process.host", "process.pid", "process.started"
PARENT_TAG = "mlflow.parentRunId"  # MLflow's own tag: the UI nests a run under the run it names

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
    _check_api(uri, verify)
    _reachable_servers.add(uri)


def _check_api(uri: str, verify) -> None:
    """A server whose backend store (its database) is down still answers /health, but its API takes
    minutes to fail: ask it one cheap question, with the probe's timeout. A login's answer counts."""
    try:
        answer = requests.get(
            f"{uri.rstrip('/')}/api/2.0/mlflow/experiments/search",
            params={"max_results": 1},
            timeout=PROBE_TIMEOUT_SECONDS,
            verify=verify,
            cert=MLFLOW_TRACKING_CLIENT_CERT_PATH.get(),
        )
    except requests.RequestException as error:
        answer, reason = None, _root_cause(error)
    else:
        reason = f"HTTP {answer.status_code}"
    if answer is None or answer.status_code in SERVER_DOWN_STATUSES:
        raise PipelineError(
            f"MLflow tracking server {uri} is up but its API fails ({reason}): its backend store (database) is "
            "probably down or unreachable; see the server's log, fix it and rerun"
        )


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
        try:
            return mlflow.create_experiment(name, artifact_location=location)
        except MlflowException as error:  # another machine created it meanwhile (a shared server)
            if error.error_code != "RESOURCE_ALREADY_EXISTS" or not (found := mlflow.get_experiment_by_name(name)):
                raise
            return found.experiment_id


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


def _process_started(pid: int) -> str:
    """When process `pid` started, in clock ticks since boot (Linux), to tell it from a later
    process given the same pid; "" where that is not known."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rsplit(")", 1)[1].split()[19]  # field 22, `starttime`


def process_tags() -> dict[str, str]:
    """The host and process that open a run, recorded as tags of the run."""
    pid = os.getpid()
    return {HOST_TAG: socket.gethostname(), PID_TAG: str(pid), STARTED_TAG: _process_started(pid)}


def _process_alive(pid: int, started: str) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return not started or _process_started(pid) in ("", started)


def mark_orphans_killed(experiment_id: str) -> list[str]:
    """Mark KILLED the experiment's RUNNING runs opened on this host by a process that is gone; their
    ids. A run of a live process (a parallel queued experiment), or of another host, is left alone."""
    client = mlflow.MlflowClient()
    running = client.search_runs([experiment_id], filter_string="attributes.status = 'RUNNING'", max_results=1000)
    orphans = []
    for run in running:
        tags = run.data.tags
        if tags.get(HOST_TAG) != socket.gethostname() or not tags.get(PID_TAG, "").isdigit():
            continue
        if _process_alive(int(tags[PID_TAG]), tags.get(STARTED_TAG, "")):
            continue
        client.set_terminated(run.info.run_id, "KILLED")
        orphans.append(run.info.run_id)
        print(
            f"note: MLflow run {run.info.run_id} ({run.info.run_name}) was left RUNNING by process "
            f"{tags[PID_TAG]}, which is gone: marked it KILLED",
            file=sys.stderr,
        )
    return orphans


@contextmanager
def _store_errors() -> Iterator[None]:
    """An MLflow request that fails after its retries (the server or its database went down mid-run)
    becomes one line naming the store; the stage's outputs stay as they were."""
    try:
        yield
    except MlflowException as error:
        reason = str(error.message).strip().splitlines()[0] if str(error.message).strip() else type(error).__name__
        if len(reason) > 240:
            reason = reason[:240] + "…"
        raise PipelineError(
            f"MLflow tracking store {tracking_uri()} failed: {reason}: check that it (and its database) is up, "
            "then rerun"
        ) from error


def _open_experiment(name: str) -> str:
    """Point MLflow at the store, mark orphaned runs KILLED, and return the experiment's id."""
    _use_tracking_store()
    experiment_id = _experiment_id(name)
    mark_orphans_killed(experiment_id)
    return experiment_id


@dataclasses.dataclass
class VariantRun:
    """The variant's run, and the MLflow model train logged in it (None until then, or when unknown)."""

    run_id: str
    experiment_id: str
    model_id: str | None = None


def _recorded_run(run_file: Path) -> dict | None:
    """What train recorded in `run_file`, if that run is still in the current store."""
    if not run_file.exists():
        return None
    recorded = read_json(run_file)
    try:
        mlflow.get_run(recorded.get("run_id"))
    except MlflowException as error:
        if error.error_code != "RESOURCE_DOES_NOT_EXIST":
            raise
        print(
            f"warning: MLflow run {recorded.get('run_id')} from {run_file} is not in {tracking_uri()}; "
            "starting a new run",
            file=sys.stderr,
        )
        return None
    return recorded


def variant_parent(experiment_id: str, variant: str, recipe: str) -> str:
    """The run that groups a variant's seed runs, one per recipe (`recipe`: a digest of the variant's
    params and data), created FINISHED by its first seed: `mlflow ui` shows the seeds nested under it, and
    compare logs their mean and spread to it. An edited variant is a new recipe, so a new parent."""
    query = f"tags.run_type = 'variant' and tags.variant = '{variant}' and tags.recipe = '{recipe}'"
    with _store_lock(mlflow.get_tracking_uri()):
        found = mlflow.MlflowClient().search_runs(
            [experiment_id], filter_string=query, max_results=1, order_by=["attributes.start_time ASC"]
        )
        client = mlflow.MlflowClient()
        if found:
            if found[0].info.status == "RUNNING":  # its creator died between creating and closing it
                client.set_terminated(found[0].info.run_id)
            return found[0].info.run_id
        tags = {"run_type": "variant", "variant": variant, "recipe": recipe, **provenance_tags()}
        parent = client.create_run(experiment_id, run_name=variant, tags=tags)
        client.set_terminated(parent.info.run_id)
        return parent.info.run_id


def seed_run_name(variant: str, seed: int) -> str:
    return f"{variant} seed {seed}"


@contextmanager
def variant_run(
    variant: str,
    seed: int,
    run_file: Path,
    experiment: str,
    *,
    new: bool,
    tags: dict[str, str],
    recipe: str | None = None,
) -> Iterator[VariantRun]:
    """The MLflow run of one variant trained with one seed: a new one (train, which sets `model_id` once
    it logged the model; nested under the variant's parent run of `recipe`), or the one train recorded
    (evaluate, export).

    A stage that raises leaves the run FAILED, not RUNNING.
    """
    with _store_errors():
        experiment_id = _open_experiment(experiment)
        recorded = None if new else _recorded_run(run_file)
        run_id = recorded and recorded["run_id"]
        all_tags = {"variant": variant, "seed": str(seed), **provenance_tags(), **process_tags(), **tags}
        if new and recipe:
            all_tags[PARENT_TAG] = variant_parent(experiment_id, variant, recipe)
        run_name = seed_run_name(variant, seed)
        with mlflow.start_run(run_id=run_id, experiment_id=experiment_id, run_name=run_name, tags=all_tags) as run:
            opened = VariantRun(run.info.run_id, experiment_id, recorded and recorded.get("model_id"))
            yield opened
            if new:
                write_json(run_file, dataclasses.asdict(opened))


@contextmanager
def summary_run(name: str, experiment: str, tags: dict[str, str]) -> Iterator[Any]:
    """A run of its own for results that span the variants, such as the comparison."""
    with _store_errors():
        experiment_id = _open_experiment(experiment)
        all_tags = {**provenance_tags(), **process_tags(), **tags}
        with mlflow.start_run(experiment_id=experiment_id, run_name=name, tags=all_tags) as run:
            yield run


def logged_model_exists(model_id: str) -> bool:
    """Whether the current store holds the logged model `model_id` (a run file may come from another)."""
    try:
        mlflow.MlflowClient().get_logged_model(model_id)
    except MlflowException as error:
        if error.error_code == "RESOURCE_DOES_NOT_EXIST":
            return False
        raise
    return True


def runs_url(experiment_id: str, uri: str | None = None) -> str:
    """The experiment's runs in the UI's *Model training* view (the UI opens on GenAI otherwise)."""
    uri = uri or tracking_uri()
    base = uri.rstrip("/") if is_server(uri) else f"http://127.0.0.1:{UI_PORT}"
    return f"{base}/#/experiments/{experiment_id}/runs?workflowType=machine_learning"


def flatten(values: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dicts as one level of dotted keys, the way `dvc metrics show` names them."""
    flat = {}
    for key, value in values.items():
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def log_metrics(
    metrics: Mapping[str, Any], step: int | None = None, *, model_id: str | None = None, dataset: Any = None
) -> None:
    """Log every numeric value of a (nested) metrics dict; with `model_id` and `dataset`, linked to that
    logged model and to the dataset they were measured on (the model's page lists them)."""
    numeric = {k: float(v) for k, v in flatten(metrics).items() if isinstance(v, (int, float))}
    mlflow.log_metrics(numeric, step=step, model_id=model_id, dataset=dataset)


def log_params(params: Mapping[str, Any]) -> None:
    mlflow.log_params(flatten(params))


def log_artifacts(*paths: Path) -> None:
    for path in paths:
        mlflow.log_artifact(str(path))
