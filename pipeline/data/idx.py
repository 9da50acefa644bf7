"""The IDX format (MNIST's files): the raw files of each split, parsed into arrays."""

import numpy as np

from pipeline.core.errors import PipelineError

IDX_DTYPE_UBYTE = 0x08
RAW_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def parse_idx(data: bytes, name: str = "IDX data") -> np.ndarray:
    """Parse an unsigned-byte IDX file (the MNIST format) into an array of its declared shape."""
    if len(data) < 4 or data[:2] != b"\x00\x00" or data[2] != IDX_DTYPE_UBYTE:
        raise PipelineError(f"{name}: not an unsigned-byte IDX file (magic number {data[:4].hex() or 'missing'})")
    ndim = data[3]
    header_size = 4 + 4 * ndim
    if ndim == 0 or len(data) < header_size:
        raise PipelineError(f"{name}: IDX header declares {ndim} dimensions but is truncated")
    shape = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    expected = header_size + int(np.prod(shape))
    if len(data) != expected:
        raise PipelineError(f"{name}: {len(data)} bytes, but shape {shape} needs {expected} (truncated or padded)")
    return np.frombuffer(data, dtype=np.uint8, offset=header_size).reshape(shape)
