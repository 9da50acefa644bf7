"""Writing the pipeline's files atomically (a crash leaves the old file or none), and reading JSON back."""

import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pipeline.core.errors import PipelineError, missing
from pipeline.core.signals import signals_deferred


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


def save_figure(path: Path, figure: Any) -> None:
    """Save a matplotlib figure as PNG and release it."""
    import matplotlib.pyplot as plt

    with atomic_path(path) as temporary:
        figure.savefig(temporary, dpi=100, bbox_inches="tight", format="png")
    plt.close(figure)
