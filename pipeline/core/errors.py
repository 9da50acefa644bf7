"""The one exception every module raises for bad input a user can fix. It imports nothing of the
project, so anything may import it."""

from pathlib import Path


class PipelineError(Exception):
    """Bad input a user can fix: params, data files, model files. Printed as one line."""


def missing(path: Path | str, stage: str | None = None) -> PipelineError:
    """The error for an input another stage writes: `<path> is missing: run the <stage> stage first (dvc repro)`."""
    producer = f"the {stage} stage" if stage else "the stage that writes it"
    return PipelineError(f"{path} is missing: run {producer} first (dvc repro)")
