"""The Model Registry: the best variant's logged model as a version of the registered model, and
the alias `champion` on the version to ship (MLflow 3 names versions by aliases; stages are
deprecated). `mlflow.pyfunc.load_model("models:/<name>@champion")` loads it.
"""

from dataclasses import dataclass

import mlflow
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import RESOURCE_ALREADY_EXISTS, ErrorCode

CHAMPION = "champion"


@dataclass(frozen=True)
class Registration:
    """Which version holds the model, whether this call created it, and where `champion` points now."""

    name: str
    version: str
    created: bool
    champion: str | None


def _create_registered_model(client: mlflow.MlflowClient, name: str) -> None:
    """Create the registered model unless it exists (a parallel compare may create it meanwhile)."""
    try:
        client.create_registered_model(name)
    except MlflowException as error:
        if error.error_code != ErrorCode.Name(RESOURCE_ALREADY_EXISTS):
            raise


def _champion(client: mlflow.MlflowClient, name: str) -> str | None:
    try:
        return str(client.get_model_version_by_alias(name, CHAMPION).version)
    except MlflowException:  # no champion yet
        return None


def register(name: str, model_id: str, tags: dict[str, str], make_champion: bool) -> Registration:
    """Register the logged model `model_id` under `name`, once: a model registered before keeps its
    version. With `make_champion`, point `champion` at that version; the previous champion's version
    stays registered."""
    client = mlflow.MlflowClient()
    source = f"models:/{model_id}"
    _create_registered_model(client, name)
    escaped = name.replace("'", "\\'")
    versions = [v for v in client.search_model_versions(f"name = '{escaped}'") if v.source == source]
    created = not versions
    if created:
        logged = client.get_logged_model(model_id)
        version = client.create_model_version(name, source, run_id=logged.source_run_id, tags=tags, model_id=model_id)
    else:
        version = min(versions, key=lambda v: int(v.version))
    version = str(version.version)
    if make_champion:
        client.set_registered_model_alias(name, CHAMPION, version)
    return Registration(name, version, created, _champion(client, name))
