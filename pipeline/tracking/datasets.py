"""The prepared splits as MLflow datasets: what a run trained, validated and was tested on.

Each is named `<dataset>-<split>` (`fashion_mnist-train`), its source is the prepared file
(`data/prepared/train.npz`) and its digest is that file's DVC content hash (the MD5 of its
bytes, as in DVC's cache and `dvc.lock`), not MLflow's digest of a sample of the arrays: runs on
the same data show the same dataset, and a changed split shows a new one.
"""

import hashlib
import warnings
from pathlib import Path

import mlflow
import numpy as np
from mlflow.exceptions import MlflowException

from pipeline.core.paths import ROOT, split_path

CONTEXTS = {"train": "training", "val": "validation", "test": "testing"}  # MLflow's input contexts


def content_hash(path: Path) -> str:
    """The MD5 of the file's bytes: DVC's content hash of a file."""
    digest = hashlib.md5()
    with open(path, "rb") as file:
        while chunk := file.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def as_mlflow_dataset(split: str, images: np.ndarray, labels: np.ndarray, dataset_name: str):
    """One prepared split as an `mlflow.data` dataset whose digest is its file's DVC content hash."""
    path = split_path(split)
    with warnings.catch_warnings():  # "can be interpreted in multiple ways": both ways are the local file
        warnings.simplefilter("ignore", UserWarning)
        return mlflow.data.from_numpy(
            images,
            targets=labels,
            source=str(path.relative_to(ROOT)),
            name=f"{dataset_name}-{split}",
            digest=content_hash(path),
        )


def log_splits(datasets: dict) -> None:
    """Log the splits (split name → dataset) as the active run's inputs, each in its context."""
    splits = list(datasets)
    contexts = [CONTEXTS[s] for s in splits]
    arguments = {"datasets": [datasets[s] for s in splits], "contexts": contexts, "tags_list": [None] * len(splits)}
    try:
        mlflow.log_inputs(**arguments)
    except MlflowException as error:
        # Two machines logging the same split to a shared server at once: the second insert of the
        # dataset row is refused (PostgreSQL's UniqueViolation on dataset_pk); again, it finds the row.
        if "unique" not in str(error).lower():
            raise
        mlflow.log_inputs(**arguments)
