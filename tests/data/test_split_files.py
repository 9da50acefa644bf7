"""The prepared splits on disk."""

import numpy as np
import pytest

from pipeline.core.errors import PipelineError
from pipeline.data.split_files import load_split, save_split


def test_split_round_trip_keeps_values_and_dtypes(tmp_path, tiny_dataset):
    path = tmp_path / "prepared" / "train.npz"
    save_split(path, tiny_dataset.train_images, tiny_dataset.train_labels)
    images, labels = load_split(path)
    assert images.dtype == np.uint8
    assert labels.dtype == np.int64
    assert images.shape == (200, 28, 28)
    np.testing.assert_array_equal(images, tiny_dataset.train_images)
    np.testing.assert_array_equal(labels, tiny_dataset.train_labels)
    assert [p.name for p in path.parent.iterdir()] == ["train.npz"]


def test_missing_split_says_which_stage_to_run(tmp_path):
    path = tmp_path / "val.npz"
    with pytest.raises(PipelineError) as caught:
        load_split(path)
    assert str(caught.value) == f"{path} is missing: run the preprocess stage first (dvc repro)"


def _pickled_images(path):
    images = np.empty(2, dtype=object)
    images[:] = [np.zeros((28, 28), np.uint8), np.zeros((28, 28), np.uint8)]
    np.savez(path, images=images, labels=np.array([0, 1]), allow_pickle=True)


def _without_labels(path):
    np.savez_compressed(path, images=np.zeros((2, 28, 28), np.uint8))


@pytest.mark.parametrize(
    ("write", "named"), [(_pickled_images, "allow_pickle"), (_without_labels, "labels")], ids=["pickled", "no-labels"]
)
def test_a_split_holding_pickled_objects_or_no_labels_is_refused_saying_why(tmp_path, write, named):
    path = tmp_path / "train.npz"
    write(path)
    with pytest.raises(PipelineError) as caught:
        load_split(path)
    assert str(caught.value).startswith(f"{path} is not a valid split file:")
    assert named in str(caught.value)


def test_file_that_is_not_npz_is_refused(tmp_path):
    path = tmp_path / "train.npz"
    path.write_text("this is not a numpy archive\n")
    with pytest.raises(PipelineError, match="is not a valid split file") as caught:
        load_split(path)
    assert str(path) in str(caught.value)


def test_split_with_wrong_dtype_or_mismatched_counts_is_refused(tmp_path):
    floats = tmp_path / "floats.npz"
    np.savez_compressed(floats, images=np.zeros((2, 28, 28), np.float32), labels=np.zeros(2, np.int64))
    with pytest.raises(PipelineError, match=r"holds float32 images of shape \(2, 28, 28\) for 2 labels"):
        load_split(floats)
    mismatched = tmp_path / "mismatched.npz"
    np.savez_compressed(mismatched, images=np.zeros((3, 28, 28), np.uint8), labels=np.zeros(2, np.int64))
    with pytest.raises(PipelineError, match=r"holds uint8 images of shape \(3, 28, 28\) for 2 labels"):
        load_split(mismatched)
