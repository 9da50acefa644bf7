import mlflow
import numpy as np
import pytest
from dvc_data.hashfile.hash import file_md5

from pipeline.data.split_files import save_split
from pipeline.tracking import datasets


@pytest.fixture
def prepared(tmp_path, monkeypatch):
    """A prepared train split in a temporary project."""
    monkeypatch.setattr(datasets, "ROOT", tmp_path)
    monkeypatch.setattr(datasets, "split_path", lambda split: tmp_path / "data" / "prepared" / f"{split}.npz")
    images = np.random.default_rng(0).integers(0, 256, size=(20, 28, 28)).astype(np.uint8)
    labels = np.arange(20) % 10
    save_split(tmp_path / "data" / "prepared" / "train.npz", images, labels)
    return images, labels


def test_a_splits_digest_is_its_files_dvc_hash_and_changes_with_it(prepared, tmp_path):
    images, labels = prepared
    path = tmp_path / "data" / "prepared" / "train.npz"
    dataset = datasets.as_mlflow_dataset("train", images, labels, "fashion_mnist")
    assert dataset.digest == file_md5(path) == datasets.content_hash(path)
    assert dataset.name == "fashion_mnist-train"
    assert dataset.source.to_dict() == {"uri": "data/prepared/train.npz"}
    assert datasets.as_mlflow_dataset("train", images, labels, "fashion_mnist").digest == dataset.digest

    save_split(path, images[:10], labels[:10])
    assert datasets.as_mlflow_dataset("train", images[:10], labels[:10], "fashion_mnist").digest != dataset.digest


def test_splits_are_logged_as_the_runs_inputs_in_their_contexts(prepared, tmp_path):
    images, labels = prepared
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    mlflow.set_experiment("test-exp")
    dataset = datasets.as_mlflow_dataset("train", images, labels, "fashion_mnist")
    with mlflow.start_run() as run:
        datasets.log_splits({"train": dataset})
    (logged,) = mlflow.get_run(run.info.run_id).inputs.dataset_inputs
    assert (logged.dataset.name, logged.dataset.digest) == ("fashion_mnist-train", dataset.digest)
    assert [tag.value for tag in logged.tags] == ["training"]
