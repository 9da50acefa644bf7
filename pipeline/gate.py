"""The merge gate: `python -m pipeline.gate [--against REV] [--skip-lock-check]`.

First it asks DVC whether the committed `dvc.lock` still describes the code and params
(pipeline/lock_status.py): if not, the metrics were not produced by them, and the gate fails
with one line naming the stale stages (exit 1). Missing data or outputs, as on a fresh clone,
are not staleness. Then it reads every variant's results from `reports/comparison.json` (committed:
compare writes it from every seed's metrics and the exported files' measurements) and the bounds under
`gate:` in `params.yaml`, prints one row per check, and exits 0 when all pass, 1 when any
fails, 2 when the file is missing or malformed. `min_test_accuracy` bounds every seed's model, not
the mean: each could be the one shipped. With `--against REV` it also fails a variant whose mean test
accuracy fell more than `gate.max_regression` below its value at git revision REV.
"""

from pipeline import cli

if __name__ == "__main__":  # a mistyped params.yaml fails now, not after the imports below
    cli.check_params_early()

import argparse
import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pipeline import config, lock_status
from pipeline.errors import PipelineError
from pipeline.paths import COMPARISON, QUANTIZED_FLAVOURS, ROOT

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--against", metavar="REV", help="also fail on a test-accuracy drop against git revision REV")
    parser.add_argument(
        "--skip-lock-check", action="store_true", help="gate the metrics even if dvc.lock is stale (not for CI)"
    )
    args = parser.parse_args()
    params = config.load_params()
    if not args.skip_lock_check and (stale := lock_status.stale_stages()):
        print(f"error: {lock_status.describe(stale)}", file=sys.stderr)
        sys.exit(1)
    variants = list(params.run_variants)
    reader = git_reader(args.against) if args.against else None
    metrics = read_metrics(variants)
    baseline = None
    if reader:
        present = reader(COMPARISON["json"]) is not None
        baseline = read_metrics(variants, reader, where=f" at {args.against}", tflite=False) if present else {}
        for name in sorted(set(variants) - set(baseline)):
            print(f"note: {name} has no metrics at {args.against}; no baseline to compare with")
    checks = gate_checks(metrics, params.gate, baseline)
    print(format_checks(checks), end="")
    failed = [c for c in checks if not c.passed]
    verdict = "the gate passes" if not failed else f"the gate FAILS on {len(failed)}"
    print(f"{len(checks) - len(failed)} of {len(checks)} checks passed: {verdict}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    cli.run(main)
