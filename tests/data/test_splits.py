"""Splits: stratified, reproducible from the seed, capped by `limit`, and summarized."""

import numpy as np

from pipeline.data.dataset_info import CLASS_NAMES
from pipeline.data.splits import split_dataset, split_image_folder, stratified_split, summarize


def _class_counts(labels: np.ndarray) -> np.ndarray:
    return np.bincount(labels, minlength=10)


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
