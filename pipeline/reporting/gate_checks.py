"""The merge gate's checks: every variant's gated values read from `reports/comparison.json` (as it is
now or at a git revision), each held to its bound under `gate:` in `params.yaml`, and the table of them.

`min_test_accuracy` bounds every seed's model, not the mean: each could be the one shipped. Against a
baseline, a variant's mean test accuracy may fall at most `gate.max_regression` below its value there.
"""

import json
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pipeline.core import config
from pipeline.core.errors import PipelineError
from pipeline.core.paths import COMPARISON, QUANTIZED_FLAVOURS, ROOT

Reader = Callable[[Path], str | None]


@dataclass(frozen=True)
class Check:
    """One bound on one value: `value >= bound` for a minimum, `value <= bound` for a maximum."""

    variant: str
    name: str
    value: float
    bound: float
    minimum: bool

    @property
    def passed(self) -> bool:
        return self.value >= self.bound if self.minimum else self.value <= self.bound


def read_workspace(path: Path) -> str | None:
    return path.read_text() if path.exists() else None


def git_reader(revision: str) -> Reader:
    """Read files as they were committed at `revision` (None where the file did not exist)."""
    verify = subprocess.run(
        ["git", "rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if verify.returncode != 0:
        raise PipelineError(f"--against {revision}: not a git revision of this repository")

    def read(path: Path) -> str | None:
        relative = path.relative_to(ROOT).as_posix()
        shown = subprocess.run(
            ["git", "show", f"{revision}:{relative}"], cwd=ROOT, capture_output=True, text=True, check=False
        )
        return shown.stdout if shown.returncode == 0 else None

    return read


# The exported files' bounds: (key in tflite.json, the `gate` param bounding it, whether it is a minimum).
TFLITE_BOUNDS = (
    ("float32.accuracy_drop", "max_tflite_accuracy_drop", False),
    ("float32.top1_agreement", "min_tflite_agreement", True),
    ("float32.size_bytes", "max_tflite_size_bytes", False),
    *((f"{flavour}.accuracy_drop", "max_quantized_accuracy_drop", False) for flavour in QUANTIZED_FLAVOURS),
    ("int8.size_vs_float32", "max_int8_size_ratio", False),
    ("app.accuracy_drop", "max_app_accuracy_drop", False),  # model_app.tflite under MediaPipe, RGB test images
)
TFLITE_KEYS = tuple(key for key, _, _ in TFLITE_BOUNDS)


def _dotted(data: dict, key: str) -> float:
    for part in key.split("."):
        data = data[part]
    return float(data)


def gated_values(row: dict, tflite: bool = True) -> dict:
    """What the gate checks of one variant's comparison row: each seed's test accuracy, the mean, and
    (with `tflite`) the exported files' figures under dotted keys."""
    values = {"test_accuracy": float(row["test_accuracy"])}
    values["seeds"] = {int(seed["seed"]): float(seed["test_accuracy"]) for seed in row.get("seeds", [])}
    if tflite:
        values |= {key: _dotted(row["tflite"], key) for key in TFLITE_KEYS}
    return values


def read_metrics(
    variants: list[str], read: Reader = read_workspace, where: str = "", tflite: bool = True
) -> dict[str, dict]:
    """The gated values of `variants` from `reports/comparison.json`: every one of them, or, without
    `tflite` (a baseline), their test accuracies where the file has them."""
    path = COMPARISON["json"]
    text = read(path)
    if text is None:
        raise PipelineError(f"{path.relative_to(ROOT)} is missing{where}: run `dvc repro` first")
    try:
        rows = {row["variant"]: row for row in json.loads(text)["variants"]}
        if tflite and (absent := [name for name in variants if name not in rows]):
            raise KeyError(f"no results for {', '.join(absent)}")
        return {name: gated_values(rows[name], tflite) for name in variants if name in rows}
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as error:
        raise PipelineError(f"{path.relative_to(ROOT)}{where} is malformed: {error!r}") from error


def tflite_checks(name: str, values: dict[str, float], gate: config.GateParams) -> list[Check]:
    """The exported files: float32 faithful to Keras and small enough, quantized files close, int8 small,
    the app flavour close under MediaPipe."""
    return [Check(name, key, values[key], getattr(gate, bound), minimum) for key, bound, minimum in TFLITE_BOUNDS]


def gate_checks(
    metrics: dict[str, dict[str, float]], gate: config.GateParams, baseline: dict[str, dict[str, float]] | None = None
) -> list[Check]:
    """Every check of the gate, passed or not, in a stable order."""
    checks = []
    for name, values in metrics.items():
        minimum = gate.min_test_accuracy_by_variant.get(name, gate.min_test_accuracy)
        for seed, accuracy in (values.get("seeds") or {None: values["test_accuracy"]}).items():
            label = "test_accuracy" if seed is None else f"test_accuracy seed {seed}"
            checks.append(Check(name, label, accuracy, minimum, minimum=True))
        checks += tflite_checks(name, values, gate)
        if baseline and name in baseline:
            floor = round(baseline[name]["test_accuracy"] - gate.max_regression, 6)
            checks.append(Check(name, "mean_test_accuracy_vs_baseline", values["test_accuracy"], floor, minimum=True))
    return checks


def _number(value: float) -> str:
    return f"{value:,.0f}" if value >= 1000 else f"{value:.4f}"


def format_checks(checks: list[Check]) -> str:
    """A plain-text table: variant, check, value, bound, PASS/FAIL."""
    rows = [("variant", "check", "value", "bound", "result")]
    rows += [
        (
            c.variant,
            c.name,
            _number(c.value),
            ("≥ " if c.minimum else "≤ ") + _number(c.bound),
            "PASS" if c.passed else "FAIL",
        )
        for c in checks
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows) + "\n"
