"""Wall time of a full default `dvc repro`, of a no-op one, and the pipeline's own overhead, per CPU class.

    python bench/pipeline_time.py [--classes native avx2]

`--classes` (bench/isa.py): `native` as the machine is, `avx2` with oneDNN capped at AVX2, as an
AVX2-only CPU computes (`precision: auto` then trains in float32); each class runs its own repro.

Runs in a fresh temporary copy of the repository (your workspace, DVC cache and MLflow store
are untouched), with the default params.yaml, and prints every variant's test accuracy. Each
stage's wall time comes from DVC's "Running stage" lines as they appear. Overhead is what a stage
spends besides its work: Python start-up, imports and exit (timed by a new interpreter that
imports the stage module) and MLflow tracking (timed by opening, logging to and closing a run in a scratch store).
"""

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# The project copy and the subprocess environment are the end-to-end tests' own.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from conftest import command_env, copy_project  # noqa: E402

from bench.isa import CLASS_ENV, class_env, onednn_isa  # noqa: E402
from pipeline.training import cpu  # noqa: E402

TRACKING_PROBE = """
import time, mlflow
from pipeline.tracking import mirror, runs
start = time.perf_counter()
with runs.summary_run("probe", "overhead-probe", tags={}):
    mirror.log_params({"a": 1, "b": 2})
    mirror.log_metrics({"x": 0.5, "y": 0.25})
print(time.perf_counter() - start)
"""


def timed_repro(root: Path, env: dict[str, str]) -> tuple[float, dict[str, float]]:
    """Total seconds of `dvc repro` and the seconds of each stage it ran."""
    started = time.perf_counter()
    marks: list[tuple[str, float]] = []
    with subprocess.Popen(
        ["dvc", "repro"], cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as process:
        for line in process.stdout:
            if match := re.match(r"Running stage '([^']+)'", line):
                marks.append((match.group(1), time.perf_counter()))
    total = time.perf_counter() - started
    if process.returncode != 0:
        sys.exit(f"dvc repro failed with exit code {process.returncode}")
    ends = [moment for _, moment in marks[1:]] + [started + total]
    return total, {stage: end - begin for (stage, begin), end in zip(marks, ends)}


def import_seconds(module: str, root: Path) -> float:
    """Wall seconds of a Python process that imports a stage module and exits as stages do."""
    code = f"import gc, {module}; gc.freeze()"  # what `cli.run` does at the end of a stage
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], cwd=root, env=command_env(), check=True)
    return time.perf_counter() - started


def tracking_seconds(root: Path) -> float:
    env = command_env() | {"MLFLOW_TRACKING_URI": f"sqlite:///{root / 'probe.db'}"}
    subprocess.run([sys.executable, "-c", TRACKING_PROBE], cwd=root, env=env, check=True, capture_output=True)
    result = subprocess.run(
        [sys.executable, "-c", TRACKING_PROBE], cwd=root, env=env, check=True, capture_output=True, text=True
    )  # the second run: an existing store
    return float(result.stdout.strip().splitlines()[-1])


def bench_class(isa_class: str) -> None:
    env = class_env(isa_class, command_env())
    print(f"\n== class {isa_class}: {cpu.model()}, oneDNN uses {onednn_isa(env)}", flush=True)
    with tempfile.TemporaryDirectory(prefix="pipeline-bench-") as directory:
        root = Path(directory)
        copy_project(root)
        subprocess.run(["git", "init", "-q"], cwd=root, check=True)
        print("running the full default dvc repro in a fresh copy (several minutes)...", flush=True)
        total, stages = timed_repro(root, env)
        started = time.perf_counter()
        subprocess.run(["dvc", "repro"], cwd=root, env=env, check=True, capture_output=True)
        noop = time.perf_counter() - started
        tracking = tracking_seconds(root)
        imports = {
            module: import_seconds(f"pipeline.{module}", root)
            for module in ("fetch", "preprocess", "train", "evaluate", "export", "compare")
        }
        trained_in = {
            f"{path.parent.parent.name}/{path.parent.name}": json.loads(path.read_text())["precision"]
            for path in sorted((root / "reports" / "variants").glob("*/seed-*/training.json"))
        }
        comparison = json.loads((root / "reports" / "comparison.json").read_text())
    print(f"\n{'stage':<24} {'wall s':>8} {'start-up s':>11} {'tracking s':>11} {'overhead':>9}")
    overhead_total = 0.0
    for stage, seconds in stages.items():
        module = stage.split("@")[0]
        tracked = tracking if module in ("train", "evaluate", "export", "compare") else 0.0
        overhead = imports[module] + tracked
        overhead_total += overhead
        print(f"{stage:<24} {seconds:>8.1f} {imports[module]:>11.1f} {tracked:>11.1f} {overhead / seconds:>8.0%}")
    print(f"\nprecision used:         {', '.join(f'{name} {used}' for name, used in trained_in.items())}")
    accuracies = ", ".join(  # the mean over seeds
        f"{row['variant']} {row['test_accuracy']:.4f}" for row in comparison["variants"]
    )
    print(f"test accuracy:          {accuracies} (best: {comparison['best']})")
    print(f"full default dvc repro: {total:.1f} s ({total / 60:.1f} min); target < 10 min [{isa_class}]")
    print(f"no-op dvc repro:        {noop:.2f} s; target < 3 s")
    print(f"pipeline overhead:      {overhead_total:.1f} s = {overhead_total / total:.0%} of the full repro")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--classes", nargs="+", choices=list(CLASS_ENV), default=list(CLASS_ENV))
    for isa_class in parser.parse_args().classes:
        bench_class(isa_class)


if __name__ == "__main__":
    main()
