"""Mirror into the active MLflow run what DVC owns: params and metrics (nested dicts as dotted keys), and files."""

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import mlflow


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
    """Log a (nested) params dict as dotted keys."""
    mlflow.log_params(flatten(params))


def log_artifacts(*paths: Path) -> None:
    """Log each file as an artifact of the active run."""
    for path in paths:
        mlflow.log_artifact(str(path))
