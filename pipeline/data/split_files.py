"""The prepared splits on disk: one compressed `.npz` per split, written atomically, read back without pickles."""

import zipfile
from pathlib import Path

import numpy as np

from pipeline.core.errors import PipelineError, missing
from pipeline.core.files import atomic_path


def save_split(path: Path, images: np.ndarray, labels: np.ndarray) -> None:
    """Write one split as compressed `.npz`: uint8 images ((n, h, w) grey or (n, h, w, 3) RGB), int64 labels."""
    with atomic_path(path) as temporary:
        np.savez_compressed(temporary, images=images.astype(np.uint8), labels=labels.astype(np.int64))


def load_split(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read one split written by `save_split`, refusing pickled objects."""
    try:
        data = np.load(path, allow_pickle=False)
    except FileNotFoundError as error:
        raise missing(path, "preprocess") from error
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as error:
        raise PipelineError(f"{path} is not a valid split file: {error}") from error
    if not isinstance(data, np.lib.npyio.NpzFile):
        raise PipelineError(f"{path} is not a valid split file: a single array, not an .npz archive")
    try:
        with data:
            images, labels = data["images"], data["labels"]
    except (KeyError, ValueError, OSError, zipfile.BadZipFile) as error:
        raise PipelineError(f"{path} is not a valid split file: {error}") from error
    grayscale_or_rgb = images.ndim == 3 or (images.ndim == 4 and images.shape[-1] == 3)
    if images.dtype != np.uint8 or not grayscale_or_rgb or len(images) != len(labels):
        raise PipelineError(f"{path} holds {images.dtype} images of shape {images.shape} for {len(labels)} labels")
    return images, labels
