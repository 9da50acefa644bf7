"""Reading and writing the pipeline's files. Every write is atomic: a crash leaves the old file or none."""

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.cli import PipelineError


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; it replaces `path` only if the block succeeds."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # Keep the suffix: Keras and numpy decide the format by it.
    temporary = path.with_name(f".{path.stem}.tmp-{os.getpid()}{path.suffix}")
    try:
        yield temporary
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def write_bytes(path: Path, data: bytes) -> None:
    with atomic_path(path) as temporary:
        temporary.write_bytes(data)


def write_text(path: Path, text: str) -> None:
    with atomic_path(path) as temporary:
        temporary.write_text(text)


def write_json(path: Path, data: Any) -> None:
    write_text(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError as error:
        raise PipelineError(f"{path} is missing: run the stage that writes it first (dvc repro)") from error
    except json.JSONDecodeError as error:
        raise PipelineError(f"{path} is not valid JSON: {error}") from error


def save_split(path: Path, images: np.ndarray, labels: np.ndarray) -> None:
    """Write one split as compressed `.npz`: uint8 images and int64 labels."""
    with atomic_path(path) as temporary:
        np.savez_compressed(temporary, images=images.astype(np.uint8), labels=labels.astype(np.int64))


def load_split(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read one split written by `save_split`, refusing pickled objects."""
    try:
        with np.load(path, allow_pickle=False) as data:
            images, labels = data["images"], data["labels"]
    except FileNotFoundError as error:
        raise PipelineError(f"{path} is missing: run the preprocess stage first (dvc repro)") from error
    except (KeyError, ValueError, OSError) as error:
        raise PipelineError(f"{path} is not a valid split file: {error}") from error
    if images.dtype != np.uint8 or images.ndim != 3 or len(images) != len(labels):
        raise PipelineError(f"{path} holds {images.dtype} images of shape {images.shape} for {len(labels)} labels")
    return images, labels


def save_figure(path: Path, figure: Any) -> None:
    """Save a matplotlib figure as PNG and release it."""
    import matplotlib.pyplot as plt

    with atomic_path(path) as temporary:
        figure.savefig(temporary, dpi=100, bbox_inches="tight", format="png")
    plt.close(figure)
