"""The Model Registry: the best variant's logged model as a version of the registered model, and
the alias `champion` on the version to ship (MLflow 3 names versions by aliases; stages are
deprecated). `mlflow.pyfunc.load_model("models:/<name>@champion")` loads it.
"""

import contextlib
import io
from dataclasses import dataclass

import mlflow
from mlflow.exceptions import MlflowException

CHAMPION = "champion"


@dataclass(frozen=True)
class Registration:
    """Which version holds the model, whether this call created it, and where `champion` points now."""

    name: str
    version: str
    created: bool
    champion: str | None


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
    versions = [v for v in client.search_model_versions(f"name = '{name}'") if v.source == source]
    created = not versions
    if created:
        # mlflow.register_model also creates the registered model and links the version to the logged
        # model (the UI's *Registered models* column); what it prints, compare says in one line.
        with contextlib.redirect_stderr(io.StringIO()):
            version = mlflow.register_model(source, name, tags=tags)
    else:
        version = min(versions, key=lambda v: int(v.version))
    version = str(version.version)
    if make_champion:
        client.set_registered_model_alias(name, CHAMPION, version)
    return Registration(name, version, created, _champion(client, name))
