"""Open an MLflow experiment safely: created once even by parallel stages, its orphaned runs closed, a failing
store reported in one line.
"""

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager

import mlflow
from mlflow.exceptions import MlflowException

from pipeline.core.errors import PipelineError
from pipeline.tracking.credentials import refused_request
from pipeline.tracking.orphans import mark_orphans_killed
from pipeline.tracking.store import ARTIFACTS_DIR, repository_root, tracking_uri, use_tracking_store


@contextmanager
def store_lock(uri: str) -> Iterator[None]:
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
    with store_lock(mlflow.get_tracking_uri()):
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


@contextmanager
def store_errors() -> Iterator[None]:
    """An MLflow request that fails after its retries (the server or its database went down mid-run),
    or that the server refused (a login or permission, 401 or 403: not retried), becomes one line naming
    the store; the stage's outputs stay as they were."""
    try:
        yield
    except MlflowException as error:
        if refused := refused_request(tracking_uri(), error):
            raise refused from error
        reason = str(error.message).strip().splitlines()[0] if str(error.message).strip() else type(error).__name__
        if len(reason) > 240:
            reason = reason[:240] + "…"
        raise PipelineError(
            f"MLflow tracking store {tracking_uri()} failed: {reason}: check that it (and its database) is up, "
            "then rerun"
        ) from error


def open_experiment(name: str) -> str:
    """Point MLflow at the store, mark orphaned runs KILLED, and return the experiment's id."""
    use_tracking_store()
    experiment_id = _experiment_id(name)
    mark_orphans_killed(experiment_id)
    return experiment_id
