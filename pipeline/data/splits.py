"""Split images and labels into stratified train, validation and test sets, reproducibly, and summarize them."""

import hashlib

import numpy as np


def _class_quotas(class_sizes: np.ndarray, total: int) -> np.ndarray:
    """Split `total` across classes in proportion to their sizes, summing to exactly `total`
    (largest remainders get the leftover places)."""
    exact = class_sizes * total / class_sizes.sum()
    quotas = np.floor(exact).astype(int)
    leftover = total - quotas.sum()
    quotas[np.argsort(-(exact - quotas), kind="stable")[:leftover]] += 1
    return quotas


def stratified_split(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (selected, rest): round(fraction × n) selected at random, each class in proportion.
    Both are shuffled."""
    rng = np.random.default_rng(seed)
    classes, class_sizes = np.unique(labels, return_counts=True)
    quotas = _class_quotas(class_sizes, int(round(len(labels) * fraction)))
    selected, rest = [], []
    for label, quota in zip(classes, quotas):
        members = rng.permutation(np.flatnonzero(labels == label))
        selected.append(members[:quota])
        rest.append(members[quota:])
    return rng.permutation(np.concatenate(selected)), rng.permutation(np.concatenate(rest))


def split_dataset(
    images: np.ndarray, labels: np.ndarray, val_fraction: float, seed: int, limit: int | None = None
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Cap the training images at `limit` (stratified), then split off a stratified validation set."""
    if limit is not None and limit < len(labels):
        kept, _ = stratified_split(labels, limit / len(labels), seed)
        images, labels = images[kept], labels[kept]
    val, train = stratified_split(labels, val_fraction, seed + 1)
    return {"train": (images[train], labels[train]), "val": (images[val], labels[val])}


def split_image_folder(
    images: np.ndarray,
    labels: np.ndarray,
    test_fraction: float,
    val_fraction: float,
    seed: int,
    limit: int | None = None,
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Hold out a stratified test set, then split the rest as `split_dataset` does (`limit` caps
    the images left for training and validation)."""
    test, rest = stratified_split(labels, test_fraction, seed + 2)
    splits = split_dataset(images[rest], labels[rest], val_fraction, seed, limit)
    return splits | {"test": (images[test], labels[test])}


def summarize(splits: dict[str, tuple[np.ndarray, np.ndarray]], class_names: tuple[str, ...]) -> dict:
    """Counts per class (by name) per split and a hash of the content, for reports and MLflow tags."""
    digest = hashlib.sha256()
    counts = {}
    for split, (images, labels) in splits.items():
        digest.update(images.tobytes() + labels.astype(np.int64).tobytes())
        per_class = np.bincount(labels, minlength=len(class_names))
        counts[split] = {"total": int(len(labels))} | dict(zip(class_names, map(int, per_class)))
    return {"counts": counts, "data_sha256": digest.hexdigest()}
