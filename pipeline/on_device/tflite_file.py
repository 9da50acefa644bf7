"""Reading a `.tflite` file: its bytes, or one line that names the file and why it cannot be used."""

from pathlib import Path

from pipeline.core.errors import PipelineError


def read_tflite(path: Path | str, name: str | None = None) -> bytes:
    """The content of the model file at `path`; errors call it `name` (default: its path)."""
    name = name or str(path)
    try:
        content = Path(path).read_bytes()
    except OSError as error:
        raise PipelineError(f"cannot read {name}: {error.strerror}") from error
    if not content:
        raise PipelineError(f"{name} is empty, not a TensorFlow Lite model")
    return content
