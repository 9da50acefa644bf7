"""The sample of test images MediaPipe measures the app flavour on, and the exact interval of an accuracy on it.

The sample is seeded and stratified by class: each class at its share of the test set."""

import numpy as np
from scipy import stats


def _class_quotas(sizes: np.ndarray, count: int) -> np.ndarray:
    """How many of `count` images each class of `sizes` images gets: its share, rounded down, then one more
    each for the classes with the largest remainders (the first of equal ones) until they add up."""
    shares = count * sizes / sizes.sum()
    quotas = np.floor(shares).astype(int)
    remainders = np.argsort(-(shares - quotas), kind="stable")
    quotas[remainders[: count - quotas.sum()]] += 1
    return quotas


def stratified_sample(labels: np.ndarray, count: int, seed: int) -> np.ndarray:
    """The sorted indices of `count` of the images of `labels` (all of them when there are no more), each
    class at its share of them, drawn at random within each class with `seed`."""
    labels = np.asarray(labels)
    if count >= len(labels):
        return np.arange(len(labels))
    classes, sizes = np.unique(labels, return_counts=True)
    rng = np.random.default_rng(seed)
    chosen = [
        rng.choice(np.flatnonzero(labels == label), size=quota, replace=False)
        for label, quota in zip(classes, _class_quotas(sizes, count))
    ]
    return np.sort(np.concatenate(chosen))


def accuracy_interval(correct: int, total: int, confidence: float) -> tuple[float, float]:
    """The exact (Clopper-Pearson) interval at `confidence` of an accuracy of `correct` out of `total`
    images, to 6 decimals."""
    interval = stats.binomtest(int(correct), int(total)).proportion_ci(confidence_level=confidence, method="exact")
    return round(float(interval.low), 6), round(float(interval.high), 6)
