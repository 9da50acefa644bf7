"""Validate params.yaml without running any stage: `python -m pipeline.check_params [--params FILE]`.

Exit code 0 when the file is valid, 2 (with one line naming the key) when it is not. Every stage
runs the same check before its work.
"""

import argparse
from pathlib import Path

from pipeline.core import cli
from pipeline.core.config import load_params
from pipeline.core.paths import PARAMS_FILE


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--params", type=Path, metavar="PATH", help="the file to check (default: params.yaml)")
    args = parser.parse_args()
    params = load_params(args.params or PARAMS_FILE)
    count, seeds = len(params.run_variants), len(params.seeds)
    names = ", ".join(params.run_variants)
    print(
        f"{args.params or PARAMS_FILE.name} is valid: {count} variant{'' if count == 1 else 's'} to run ({names}), "
        f"{seeds} seed{'' if seeds == 1 else 's'} each"
    )


if __name__ == "__main__":
    cli.run(main)
