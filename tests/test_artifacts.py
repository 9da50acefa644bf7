import json

import numpy as np
import pytest

from pipeline.artifacts import (
    atomic_path,
    load_split,
    read_history,
    read_json,
    save_split,
    write_bytes,
    write_history,
    write_json,
    write_text,
)
from pipeline.errors import PipelineError


def test_write_json_replaces_content_sorted_and_indented(tmp_path):
    path = tmp_path / "metrics.json"
    write_json(path, {"b": 1, "a": [1, 2]})
    write_json(path, {"z": 0.5, "accuracy": 0.9})
    assert path.read_text() == '{\n  "accuracy": 0.9,\n  "z": 0.5\n}\n'
    assert read_json(path) == {"accuracy": 0.9, "z": 0.5}
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


def test_write_text_creates_parent_directories_and_replaces(tmp_path):
    path = tmp_path / "reports" / "deep" / "note.txt"
    write_text(path, "first")
    write_text(path, "second")
    assert path.read_text() == "second"
    assert [p.name for p in path.parent.iterdir()] == ["note.txt"]


def test_write_bytes_round_trips_binary(tmp_path):
    path = tmp_path / "blob.bin"
    write_bytes(path, bytes(range(256)))
    assert path.read_bytes() == bytes(range(256))


def test_temporary_file_keeps_the_suffix_and_sits_beside_the_target(tmp_path):
    target = tmp_path / "model.keras"
    with atomic_path(target) as temporary:
        assert temporary.parent == tmp_path
        assert temporary.suffix == ".keras"
        assert temporary != target
        temporary.write_text("new")
    assert target.read_text() == "new"
    assert not temporary.exists()


def test_failed_write_leaves_old_file_untouched_and_no_temporary(tmp_path):
    path = tmp_path / "summary.json"
    write_json(path, {"version": 1})
    with pytest.raises(RuntimeError, match="crash mid-write"), atomic_path(path) as temporary:
        temporary.write_text('{"version": 2, "trunc')
        raise RuntimeError("crash mid-write")
    assert json.loads(path.read_text()) == {"version": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]


def test_failed_first_write_leaves_no_file_at_all(tmp_path):
    path = tmp_path / "new.txt"
    with pytest.raises(KeyboardInterrupt), atomic_path(path) as temporary:
        temporary.write_text("partial")
        raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


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


def test_split_holding_pickled_objects_is_refused(tmp_path):
    path = tmp_path / "train.npz"
    images = np.empty(2, dtype=object)
    images[:] = [np.zeros((28, 28), np.uint8), np.zeros((28, 28), np.uint8)]
    np.savez(path, images=images, labels=np.array([0, 1]), allow_pickle=True)
    with pytest.raises(PipelineError) as caught:
        load_split(path)
    assert str(caught.value).startswith(f"{path} is not a valid split file:")
    assert "allow_pickle" in str(caught.value)


def test_file_that_is_not_npz_is_refused(tmp_path):
    path = tmp_path / "train.npz"
    path.write_text("this is not a numpy archive\n")
    with pytest.raises(PipelineError, match="is not a valid split file") as caught:
        load_split(path)
    assert str(path) in str(caught.value)


def test_split_without_labels_is_refused(tmp_path):
    path = tmp_path / "train.npz"
    np.savez_compressed(path, images=np.zeros((2, 28, 28), np.uint8))
    with pytest.raises(PipelineError) as caught:
        load_split(path)
    assert str(caught.value).startswith(f"{path} is not a valid split file:")
    assert "labels" in str(caught.value)


def test_split_with_wrong_dtype_or_mismatched_counts_is_refused(tmp_path):
    floats = tmp_path / "floats.npz"
    np.savez_compressed(floats, images=np.zeros((2, 28, 28), np.float32), labels=np.zeros(2, np.int64))
    with pytest.raises(PipelineError, match=r"holds float32 images of shape \(2, 28, 28\) for 2 labels"):
        load_split(floats)
    mismatched = tmp_path / "mismatched.npz"
    np.savez_compressed(mismatched, images=np.zeros((3, 28, 28), np.uint8), labels=np.zeros(2, np.int64))
    with pytest.raises(PipelineError, match=r"holds uint8 images of shape \(3, 28, 28\) for 2 labels"):
        load_split(mismatched)


def test_read_json_of_invalid_json_names_the_file(tmp_path):
    path = tmp_path / "metrics.json"
    path.write_text('{"accuracy": 0.9,')
    with pytest.raises(PipelineError) as caught:
        read_json(path)
    assert str(caught.value).startswith(f"{path} is not valid JSON:")


def test_read_json_of_missing_file_says_to_run_the_stage(tmp_path):
    path = tmp_path / "training.json"
    with pytest.raises(PipelineError, match="is missing: run the stage that writes it first"):
        read_json(path)


def test_history_round_trips_one_row_per_epoch(tmp_path):
    history = {"loss": [0.9, 0.5], "accuracy": [0.6, 0.8], "val_loss": [1.0, 0.7], "val_accuracy": [0.55, 0.75]}
    path = tmp_path / "history.csv"
    write_history(path, history)
    lines = path.read_text().splitlines()
    assert lines[0] == "epoch,loss,accuracy,val_loss,val_accuracy"
    assert lines[1:] == ["1,0.900000,0.600000,1.000000,0.550000", "2,0.500000,0.800000,0.700000,0.750000"]
    assert read_history(path) == history


def test_a_history_without_validation_columns_is_refused(tmp_path):
    path = tmp_path / "history.csv"
    path.write_text("epoch,loss,accuracy\n1,0.9,0.6\n")
    with pytest.raises(PipelineError, match=r"history.csv is not a training history: KeyError\('val_loss'\)"):
        read_history(path)
