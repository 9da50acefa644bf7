"""What the prepared data is: its description on disk, and images and labels checked against it."""

import json

import numpy as np
import pytest

from pipeline.core.errors import PipelineError
from pipeline.data.dataset_info import CLASS_NAMES, DatasetInfo, check_dataset, idx_dataset_info, load_dataset_info

FASHION_MNIST = idx_dataset_info("fashion_mnist")


def test_dataset_info_round_trips_and_a_missing_file_says_to_run_dvc_repro(tmp_path):
    path = tmp_path / "dataset.json"
    with pytest.raises(PipelineError, match=r"dataset.json is missing: run the preprocess stage first \(dvc repro\)"):
        load_dataset_info(path)
    info = DatasetInfo("image_folder", ("daisy", "rose"), (16, 16, 3))
    path.write_text(json.dumps(info.as_json()))
    assert load_dataset_info(path) == info
    assert idx_dataset_info("mnist").class_names == tuple("0123456789")


@pytest.mark.parametrize(
    "content", ['{"name": "x"}', '{"name": "x", "class_names": ["only"], "image_shape": [28, 28]}', "not json"]
)
def test_a_malformed_dataset_description_says_to_rerun(tmp_path, content):
    path = tmp_path / "dataset.json"
    path.write_text(content)
    with pytest.raises(PipelineError, match=r"dataset.json is not a dataset description: .*run `dvc repro`"):
        load_dataset_info(path)


def test_fashion_mnist_has_its_ten_classes_of_28_by_28_images():
    info = idx_dataset_info("fashion_mnist")
    assert info.class_names == CLASS_NAMES and len(CLASS_NAMES) == 10 and info.image_shape == (28, 28)


# check_dataset


def test_matching_images_and_labels_pass(tiny_dataset):
    assert check_dataset(tiny_dataset.train_images, tiny_dataset.train_labels, "train", FASHION_MNIST) is None


def test_mismatched_counts_are_refused(tiny_dataset):
    with pytest.raises(PipelineError) as caught:
        check_dataset(tiny_dataset.train_images, tiny_dataset.train_labels[:-1], "train", FASHION_MNIST)
    assert str(caught.value) == "train: 199 labels for 200 images"


def test_label_outside_the_ten_classes_is_refused(tiny_dataset):
    labels = tiny_dataset.test_labels.copy()
    labels[7] = 10
    with pytest.raises(PipelineError) as caught:
        check_dataset(tiny_dataset.test_images, labels, "test", FASHION_MNIST)
    assert str(caught.value) == "test: label 10 is not one of the 10 classes"


def test_images_of_the_wrong_size_are_refused():
    with pytest.raises(PipelineError, match=r"train: images have shape \(3, 32, 32\), expected \(n, 28, 28\)"):
        check_dataset(np.zeros((3, 32, 32), np.uint8), np.zeros(3, np.uint8), "train", FASHION_MNIST)


def test_images_are_checked_against_the_datasets_shape_and_classes():
    folder = DatasetInfo("image_folder", ("cat", "dog"), (16, 16, 3))
    check_dataset(np.zeros((4, 16, 16, 3), np.uint8), np.array([0, 1, 1, 0]), "images.npz", folder)
    with pytest.raises(PipelineError, match=r"images have shape \(4, 16, 16\), expected \(n, 16, 16, 3\)"):
        check_dataset(np.zeros((4, 16, 16), np.uint8), np.array([0, 1, 1, 0]), "images.npz", folder)
    with pytest.raises(PipelineError, match="label 2 is not one of the 2 classes"):
        check_dataset(np.zeros((2, 16, 16, 3), np.uint8), np.array([0, 2]), "images.npz", folder)
