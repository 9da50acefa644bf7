"""The merge gate: `python -m pipeline.gate [--against REV] [--skip-lock-check]`.

First it asks DVC whether the committed `dvc.lock` still describes the code and params
(pipeline/reporting/lock_status.py): if not, the metrics were not produced by them, and the gate fails
with one line naming the stale stages (exit 1). Missing data or outputs, as on a fresh clone,
are not staleness. Then it reads every variant's results from `reports/comparison.json` (committed:
compare writes it from every seed's metrics and the exported files' measurements) and the bounds under
`gate:` in `params.yaml`, prints one row per check (pipeline/reporting/gate_checks.py), and exits 0 when
all pass, 1 when any fails, 2 when the file is missing or malformed. `min_test_accuracy` bounds every
seed's model, not the mean: each could be the one shipped. With `--against REV` it also fails a variant
whose mean test accuracy fell more than `gate.max_regression` below its value at git revision REV.
"""

from pipeline.core import cli

if __name__ == "__main__":  # a mistyped params.yaml fails now, not after the imports below
    cli.check_params_early()

import argparse
import sys

from pipeline.core import config
from pipeline.core.errors import PipelineError
from pipeline.core.paths import COMPARISON
from pipeline.reporting import lock_status
from pipeline.reporting.gate_checks import format_checks, gate_checks, git_reader, read_metrics


def stale_stages() -> dict[str, list[str]]:
    """lock_status's stale stages; when DVC cannot answer (not on PATH, not a DVC repository), one line
    that also names the way around the check."""
    try:
        return lock_status.stale_stages()
    except PipelineError as error:
        raise PipelineError(f"{error} (to gate the metrics alone: --skip-lock-check)") from error


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--against", metavar="REV", help="also fail on a test-accuracy drop against git revision REV")
    parser.add_argument(
        "--skip-lock-check", action="store_true", help="gate the metrics even if dvc.lock is stale (not for CI)"
    )
    args = parser.parse_args()
    params = config.load_params()
    if not args.skip_lock_check and (stale := stale_stages()):
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
