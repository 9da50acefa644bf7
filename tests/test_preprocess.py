import gzip
import json
import sys

import numpy as np
import pytest
from conftest import FOLDER_CLASSES, copy_project, edit_params, idx_bytes, run_command, write_idx, write_image_folder

from pipeline.dataset import CLASS_NAMES, DatasetInfo, idx_dataset_info
from pipeline.errors import PipelineError
from pipeline.preprocess import (
    check_dataset,
    parse_idx,
    split_dataset,
    split_image_folder,
    stratified_split,
    summarize,
)

FASHION_MNIST = idx_dataset_info("fashion_mnist")


def _class_counts(labels: np.ndarray) -> np.ndarray:
    return np.bincount(labels, minlength=10)


# parse_idx


def test_parse_idx_reads_images_with_their_declared_shape(tmp_path, tiny_dataset):
    path = write_idx(tmp_path / "train-images-idx3-ubyte", tiny_dataset.train_images)
    data = path.read_bytes()
    assert data[:8] == bytes([0, 0, 8, 3, 0, 0, 0, 200])
    images = parse_idx(data, path.name)
    assert images.shape == (200, 28, 28)
    assert images.dtype == np.uint8
    np.testing.assert_array_equal(images, tiny_dataset.train_images)


def test_parse_idx_reads_labels_as_one_dimension(tmp_path, tiny_dataset):
    path = write_idx(tmp_path / "labels.gz", tiny_dataset.test_labels, gzipped=True)
    labels = parse_idx(gzip.decompress(path.read_bytes()))
    assert labels.shape == (50,)
    np.testing.assert_array_equal(labels, tiny_dataset.test_labels)
    np.testing.assert_array_equal(parse_idx(idx_bytes(np.array([3, 1, 4], np.uint8))), [3, 1, 4])


def test_wrong_magic_number_is_reported_in_hex():
    gzipped = gzip.compress(idx_bytes(np.zeros(3, np.uint8)))
    with pytest.raises(PipelineError) as caught:
        parse_idx(gzipped, "labels")
    assert str(caught.value) == f"labels: not an unsigned-byte IDX file (magic number {gzipped[:4].hex()})"
    assert gzipped[:4].hex().startswith("1f8b")


def test_wrong_dtype_byte_is_refused():
    floats = bytearray(idx_bytes(np.zeros((2, 2), np.uint8)))
    floats[2] = 0x0D  # IDX code for float32
    with pytest.raises(PipelineError, match=r"images: not an unsigned-byte IDX file \(magic number 00000d02\)"):
        parse_idx(bytes(floats), "images")


def test_empty_file_says_the_magic_number_is_missing():
    with pytest.raises(PipelineError, match=r"empty: not an unsigned-byte IDX file \(magic number missing\)"):
        parse_idx(b"", "empty")


def test_truncated_data_reports_sizes():
    data = idx_bytes(np.zeros((4, 28, 28), np.uint8))
    with pytest.raises(PipelineError) as caught:
        parse_idx(data[:-10], "images")
    assert str(caught.value) == (
        f"images: {len(data) - 10} bytes, but shape (4, 28, 28) needs {len(data)} (truncated or padded)"
    )


def test_extra_trailing_bytes_are_refused():
    data = idx_bytes(np.arange(5, dtype=np.uint8))
    with pytest.raises(PipelineError, match=r"labels: 15 bytes, but shape \(5,\) needs 13 \(truncated or padded\)"):
        parse_idx(data + b"\x00\x00", "labels")


def test_truncated_header_is_refused():
    data = idx_bytes(np.zeros((2, 28, 28), np.uint8))
    with pytest.raises(PipelineError, match="images: IDX header declares 3 dimensions but is truncated"):
        parse_idx(data[:9], "images")
    with pytest.raises(PipelineError, match="declares 0 dimensions"):
        parse_idx(bytes([0, 0, 8, 0]), "scalar")


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


# stratified_split / split_dataset


def test_split_sizes_follow_the_validation_fraction(tiny_dataset):
    splits = split_dataset(tiny_dataset.train_images, tiny_dataset.train_labels, val_fraction=0.1, seed=42)
    assert len(splits["val"][1]) == 20
    assert len(splits["train"][1]) == 180
    assert splits["train"][0].shape == (180, 28, 28)
    np.testing.assert_array_equal(_class_counts(splits["val"][1]), [2] * 10)
    np.testing.assert_array_equal(_class_counts(splits["train"][1]), [18] * 10)


def test_validation_set_is_stratified_for_unbalanced_classes():
    class_sizes = np.array([5, 13, 27, 8, 40, 19, 3, 31, 11, 22])
    labels = np.repeat(np.arange(10), class_sizes)
    np.random.default_rng(3).shuffle(labels)
    selected, rest = stratified_split(labels, 0.3, seed=5)
    val_counts = _class_counts(labels[selected])
    assert np.all(np.abs(val_counts - class_sizes * 0.3) <= 1)
    np.testing.assert_array_equal(val_counts + _class_counts(labels[rest]), class_sizes)


def test_split_indices_are_disjoint_and_cover_everything(tiny_dataset):
    selected, rest = stratified_split(tiny_dataset.train_labels, 0.25, seed=0)
    assert len(np.intersect1d(selected, rest)) == 0
    np.testing.assert_array_equal(np.sort(np.concatenate([selected, rest])), np.arange(200))


def test_split_images_stay_with_their_labels(tiny_dataset):
    images, labels = tiny_dataset.train_images.copy(), tiny_dataset.train_labels
    images[:, 0, 0] = labels  # each image carries its own label in a pixel
    splits = split_dataset(images, labels, val_fraction=0.2, seed=1)
    for split_images, split_labels in splits.values():
        np.testing.assert_array_equal(split_images[:, 0, 0], split_labels)


def test_same_seed_gives_the_same_split(tiny_dataset):
    first = split_dataset(tiny_dataset.train_images, tiny_dataset.train_labels, 0.1, seed=7)
    second = split_dataset(tiny_dataset.train_images, tiny_dataset.train_labels, 0.1, seed=7)
    for split in ("train", "val"):
        np.testing.assert_array_equal(first[split][0], second[split][0])
        np.testing.assert_array_equal(first[split][1], second[split][1])


def test_another_seed_gives_another_split(tiny_dataset):
    first, _ = stratified_split(tiny_dataset.train_labels, 0.1, seed=7)
    second, _ = stratified_split(tiny_dataset.train_labels, 0.1, seed=8)
    assert len(first) == len(second) == 20
    assert set(first.tolist()) != set(second.tolist())


def test_limit_caps_the_training_images_and_stays_stratified(tiny_dataset):
    splits = split_dataset(tiny_dataset.train_images, tiny_dataset.train_labels, 0.1, seed=0, limit=100)
    train_labels, val_labels = splits["train"][1], splits["val"][1]
    assert len(train_labels) + len(val_labels) == 100
    np.testing.assert_array_equal(_class_counts(train_labels), [9] * 10)
    np.testing.assert_array_equal(_class_counts(val_labels), [1] * 10)


def test_limit_above_the_dataset_size_keeps_everything(tiny_dataset):
    splits = split_dataset(tiny_dataset.train_images, tiny_dataset.train_labels, 0.1, seed=0, limit=10_000)
    assert len(splits["train"][1]) + len(splits["val"][1]) == 200


# summarize


def _splits(dataset):
    splits = split_dataset(dataset.train_images, dataset.train_labels, 0.1, seed=0)
    splits["test"] = (dataset.test_images, dataset.test_labels)
    return splits


def test_summary_counts_each_class_in_each_split(tiny_dataset):
    summary = summarize(_splits(tiny_dataset), CLASS_NAMES)
    counts = summary["counts"]
    assert list(counts) == ["train", "val", "test"]
    assert counts["train"] == {"total": 180} | dict.fromkeys(CLASS_NAMES, 18)
    assert counts["val"] == {"total": 20} | dict.fromkeys(CLASS_NAMES, 2)
    assert counts["test"] == {"total": 50} | dict.fromkeys(CLASS_NAMES, 5)
    assert len(summary["data_sha256"]) == 64


def test_summary_hash_is_stable_and_changes_with_the_data(tiny_dataset):
    splits = _splits(tiny_dataset)
    assert summarize(splits, CLASS_NAMES)["data_sha256"] == summarize(_splits(tiny_dataset), CLASS_NAMES)["data_sha256"]
    images, labels = splits["test"]
    changed_pixel = images.copy()
    changed_pixel[0, 0, 0] ^= 1
    changed_label = labels.copy()
    changed_label[0] = (changed_label[0] + 1) % 10
    hashes = {
        summarize(splits, CLASS_NAMES)["data_sha256"],
        summarize(splits | {"test": (changed_pixel, labels)}, CLASS_NAMES)["data_sha256"],
        summarize(splits | {"test": (images, changed_label)}, CLASS_NAMES)["data_sha256"],
    }
    assert len(hashes) == 3


def test_summary_counts_classes_by_the_datasets_names():
    labels = np.array([0, 1, 1, 2, 2, 2])
    summary = summarize({"test": (np.zeros((6, 4, 4, 3), np.uint8), labels)}, ("daisy", "rose", "tulip"))
    assert summary["counts"]["test"] == {"total": 6, "daisy": 1, "rose": 2, "tulip": 3}


# image folders


def test_an_image_folder_is_split_into_stratified_test_val_and_train_sets():
    class_sizes = np.array([50, 30, 20])
    labels = np.repeat(np.arange(3), class_sizes)
    images = np.zeros((len(labels), 8, 8, 3), np.uint8)
    images[:, 0, 0, 0] = np.arange(len(labels))  # each image is told apart by a pixel
    splits = split_image_folder(images, labels, test_fraction=0.2, val_fraction=0.1, seed=0)
    assert list(splits) == ["train", "val", "test"]
    np.testing.assert_array_equal(np.bincount(splits["test"][1]), [10, 6, 4])
    np.testing.assert_array_equal(np.bincount(splits["val"][1]), [4, 2, 2])
    np.testing.assert_array_equal(np.bincount(splits["train"][1]), [36, 22, 14])
    seen = np.concatenate([split_images[:, 0, 0, 0] for split_images, _ in splits.values()])
    np.testing.assert_array_equal(np.sort(seen), np.arange(100))  # every image once
    for split_images, split_labels in splits.values():
        np.testing.assert_array_equal(labels[split_images[:, 0, 0, 0]], split_labels)
    again = split_image_folder(images, labels, test_fraction=0.2, val_fraction=0.1, seed=0)
    np.testing.assert_array_equal(again["test"][0], splits["test"][0])


def test_limit_caps_an_image_folders_training_images_not_its_test_set():
    labels = np.repeat(np.arange(2), 200)
    splits = split_image_folder(np.zeros((400, 4, 4), np.uint8), labels, 0.25, 0.1, seed=0, limit=100)
    assert len(splits["train"][1]) + len(splits["val"][1]) == 100
    assert len(splits["test"][1]) == 100


def test_an_image_folder_is_fetched_and_prepared_with_its_class_names_and_shape(tmp_path):
    root = copy_project(tmp_path / "project")
    write_image_folder(root / "shapes", per_class=40, size=16)

    def use_folder(params):
        params["data"]["dataset"] = "image_folder"
        params["data"]["image_folder"] = {"directory": "shapes", "image_size": [16, 16], "color_mode": "rgb"}

    edit_params(root, use_folder)
    for stage in ("fetch", "preprocess"):
        run_command([sys.executable, "-m", f"pipeline.{stage}"], root)  # "shapes" is relative to the root
    assert json.loads((root / "data" / "raw" / "classes.json").read_text()) == list(FOLDER_CLASSES)
    dataset = json.loads((root / "data" / "prepared" / "dataset.json").read_text())
    assert dataset == {"name": "image_folder", "class_names": list(FOLDER_CLASSES), "image_shape": [16, 16, 3]}
    counts = json.loads((root / "reports" / "data" / "summary.json").read_text())["counts"]
    assert counts["test"] == {"total": 24} | dict.fromkeys(FOLDER_CLASSES, 8)  # test_fraction 0.2 of 40 each
    assert counts["train"]["total"] + counts["val"]["total"] == 96
    assert all(counts["val"][name] in (3, 4) for name in FOLDER_CLASSES)
    with np.load(root / "data" / "prepared" / "train.npz") as train:
        assert train["images"].shape == (counts["train"]["total"], 16, 16, 3)
    assert (root / "reports" / "data" / "samples.png").read_bytes()[:4] == b"\x89PNG"
