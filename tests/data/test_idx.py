"""The IDX format: files parsed into arrays of their declared shape, and malformed files refused saying why."""

import gzip

import numpy as np
import pytest
from conftest import idx_bytes, write_idx

from pipeline.core.errors import PipelineError
from pipeline.data.idx import parse_idx


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
