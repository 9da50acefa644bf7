"""The per-epoch training history as a CSV file: written by train, read back by compare."""

import csv
from pathlib import Path

from pipeline.core.config import MONITORS
from pipeline.core.errors import PipelineError, missing
from pipeline.core.files import write_text


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
