"""Reading and writing the pipeline's files. Every write is atomic: a crash leaves the old file or none."""

import csv
import json
import os
import shutil
import signal
import threading
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.config import MONITORS
from pipeline.errors import PipelineError, missing


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


DEFERRED_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _deliver(signum: int, handler: Any) -> None:
    """Act on a signal the way `handler`, the handler it had before, would have."""
    if callable(handler):
        handler(signum, None)
    elif handler == signal.SIG_DFL:
        raise SystemExit(128 + signum)


@contextmanager
def signals_deferred() -> Iterator[Callable[[], None]]:
    """Ctrl-C and SIGTERM meanwhile are only noted. The yielded `act_on_signal()` raises a noted one
    where the caller chooses; leaving the block raises one still pending.

    An exception raised at any point inside TensorFlow's native calls can abort the process
    (`free(): invalid next size`), and one raised between two file moves leaves half an update.
    """
    noted: list[int] = []
    if threading.current_thread() is not threading.main_thread():  # only the main thread handles signals
        yield lambda: None
        return

    def note(signum: int, frame: object) -> None:
        noted.append(signum)

    previous = {signum: signal.signal(signum, note) for signum in DEFERRED_SIGNALS}

    def act_on_signal() -> None:
        if noted:
            signum = noted.pop(0)
            _deliver(signum, previous[signum])

    try:
        yield act_on_signal
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    act_on_signal()


@contextmanager
def staged_outputs(*paths: Path) -> Iterator[dict[Path, Path]]:
    """Stand-ins for a stage's outputs, by output path: same file names, in a hidden directory
    beside the first. They replace the outputs together when the block succeeds and are deleted
    when it fails, so a failed or interrupted stage leaves every output as it was, old or absent.

    Each stand-in keeps its output's name, so it can be logged to MLflow before it is moved.
    """
    if len({path.name for path in paths}) != len(paths):
        raise ValueError(f"staged outputs need distinct file names: {[str(path) for path in paths]}")
    staging = paths[0].parent / f".staging-{os.getpid()}"
    staging.mkdir(parents=True, exist_ok=True)
    try:
        yield {path: staging / path.name for path in paths}
        if missing := [str(path) for path in paths if not (staging / path.name).is_file()]:
            raise FileNotFoundError(f"staged outputs never written: {', '.join(missing)}")
        with signals_deferred():
            for path in paths:
                path.parent.mkdir(parents=True, exist_ok=True)
                os.replace(staging / path.name, path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


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
        raise missing(path) from error
    except json.JSONDecodeError as error:
        raise PipelineError(f"{path} is not valid JSON: {error}") from error


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


def write_history(path: Path, history: dict[str, list[float]]) -> None:
    """The per-epoch training history as CSV, one row per epoch, for `dvc plots`."""
    rows = [",".join(("epoch", *MONITORS))]
    for epoch, values in enumerate(zip(*(history[c] for c in MONITORS)), start=1):
        rows.append(",".join([str(epoch), *(f"{v:.6f}" for v in values)]))
    write_text(path, "\n".join(rows) + "\n")


def read_history(path: Path) -> dict[str, list[float]]:
    """A history written by `write_history`, as lists per column."""
    try:
        with path.open(newline="") as file:
            rows = list(csv.DictReader(file))
        return {column: [float(row[column]) for row in rows] for column in MONITORS}
    except FileNotFoundError as error:
        raise missing(path, "train") from error
    except (KeyError, TypeError, ValueError) as error:
        raise PipelineError(f"{path} is not a training history: {error!r}") from error


def save_figure(path: Path, figure: Any) -> None:
    """Save a matplotlib figure as PNG and release it."""
    import matplotlib.pyplot as plt

    with atomic_path(path) as temporary:
        figure.savefig(temporary, dpi=100, bbox_inches="tight", format="png")
    plt.close(figure)
