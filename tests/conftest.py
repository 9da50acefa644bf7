"""Shared tiny fixtures. Kept free of TensorFlow/Keras so the fast tests stay fast."""

import gzip
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest


def idx_bytes(array: np.ndarray) -> bytes:
    """The unsigned-byte IDX encoding of `array`: magic 00 00 08 ndim, big-endian uint32 dims, then the bytes."""
    array = np.asarray(array)
    if array.dtype != np.uint8:
        raise TypeError(f"IDX ubyte files hold uint8 data, not {array.dtype}")
    header = bytes([0, 0, 0x08, array.ndim]) + np.array(array.shape, dtype=">u4").tobytes()
    return header + np.ascontiguousarray(array).tobytes()


def write_idx(path: Path, array: np.ndarray, gzipped: bool = False) -> Path:
    """Write `array` as an IDX file at `path` (gzip-compressed when `gzipped`) and return the path."""
    data = idx_bytes(array)
    path.write_bytes(gzip.compress(data) if gzipped else data)
    return path


def synthetic_split(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """`count` random 28x28 uint8 images with labels cycling through 0..9 (balanced when count % 10 == 0)."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(count, 28, 28), dtype=np.uint8)
    labels = (np.arange(count) % 10).astype(np.uint8)
    return images, rng.permutation(labels)


@pytest.fixture
def tiny_dataset():
    """A Fashion-MNIST-shaped dataset in memory: 200 training and 50 test images, balanced labels."""
    train_images, train_labels = synthetic_split(200, seed=0)
    test_images, test_labels = synthetic_split(50, seed=1)
    return SimpleNamespace(
        train_images=train_images, train_labels=train_labels, test_images=test_images, test_labels=test_labels
    )


@pytest.fixture
def tiny_raw_dir(tmp_path, tiny_dataset):
    """`tiny_dataset` written as the four raw IDX files (uncompressed) in a temporary directory."""
    directory = tmp_path / "raw"
    directory.mkdir()
    write_idx(directory / "train-images-idx3-ubyte", tiny_dataset.train_images)
    write_idx(directory / "train-labels-idx1-ubyte", tiny_dataset.train_labels)
    write_idx(directory / "t10k-images-idx3-ubyte", tiny_dataset.test_images)
    write_idx(directory / "t10k-labels-idx1-ubyte", tiny_dataset.test_labels)
    return directory
