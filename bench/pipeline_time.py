"""Wall time of a full default `dvc repro` against the tutorials' peer CNN timed in the same run, per CPU class.

    python bench/pipeline_time.py [--classes native avx2]

`--classes` (bench/isa.py): `native` as the machine is, `avx2` with oneDNN capped at AVX2, as an
AVX2-only CPU computes (`precision: auto` then trains in float32); each class runs its own repro.

Seconds do not travel between machines; ratios to a peer timed on the same machine in the same run do
far better. So after the repro it trains the peer (bench/train_speed.py's tutorial CNN: 10 epochs,
batch 32, float32) on the same prepared data and prints the repro's time as a multiple of the peer's
training time. Targets: the full repro at most 1.5 times the peer, evaluate and export at most 15 % of
the repro, a no-op repro under 3 s. An emulated class (`avx2` on a faster CPU) is a lower bound of a
real AVX2-only CPU's seconds: compare its ratio, not its seconds.

Runs in a fresh temporary copy of the repository (your workspace, DVC cache and MLflow store
are untouched), with the default params.yaml, and prints every variant's test accuracy. Each
stage's wall time comes from DVC's "Running stage" lines as they appear. Overhead is what a stage
spends besides its work: Python start-up, imports and exit (timed by a new interpreter that
imports the stage module) and MLflow tracking (timed by opening, logging to and closing a run in a scratch store).
"""

import argparse
import json
import re
import shutil
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

STAGE_MODULES = ("fetch", "preprocess", "train", "evaluate", "export", "compare")
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


def peer_seconds(root: Path, env: dict[str, str]) -> float:
    """Training seconds of the tutorials' peer CNN (bench/train_speed.py) on the copy's prepared data."""
    with tempfile.NamedTemporaryFile(suffix=".json") as result:
        command = [sys.executable, "bench/train_speed.py", "--worker", "peer", "cnn", result.name]
        subprocess.run(command, cwd=root, env=env, check=True, stdout=subprocess.DEVNULL)
        return json.loads(Path(result.name).read_text())["seconds"][-1]


def stage_shares(stages: dict[str, float], total: float) -> dict[str, float]:
    """Each kind of stage (train, evaluate, export, ...) as a share of the repro's `total` seconds."""
    shares: dict[str, float] = {}
    for stage, seconds in stages.items():
        kind = stage.split("@")[0]
        shares[kind] = shares.get(kind, 0.0) + seconds / total
    return shares


def import_seconds(module: str, root: Path, env: dict[str, str]) -> float:
    """Wall seconds of a Python process that imports a stage module and exits as stages do, in `env`."""
    code = f"import gc, {module}; gc.freeze()"  # what `cli.run` does at the end of a stage
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], cwd=root, env=env, check=True)
    return time.perf_counter() - started


def tracking_seconds(root: Path) -> float:
    env = command_env() | {"MLFLOW_TRACKING_URI": f"sqlite:///{root / 'probe.db'}"}
    subprocess.run([sys.executable, "-c", TRACKING_PROBE], cwd=root, env=env, check=True, capture_output=True)
    result = subprocess.run(
        [sys.executable, "-c", TRACKING_PROBE], cwd=root, env=env, check=True, capture_output=True, text=True
    )  # the second run: an existing store
    return float(result.stdout.strip().splitlines()[-1])


def measure_class(env: dict[str, str]) -> dict:
    """In a fresh copy: the full repro (total and per stage), a no-op one, the peer, the overheads."""
    with tempfile.TemporaryDirectory(prefix="pipeline-bench-") as directory:
        root = Path(directory)
        copy_project(root)
        shutil.copytree(Path(__file__).parent, root / "bench", ignore=shutil.ignore_patterns("__pycache__"))
        subprocess.run(["git", "init", "-q"], cwd=root, check=True)
        print("running the full default dvc repro in a fresh copy (several minutes)...", flush=True)
        total, stages = timed_repro(root, env)
        started = time.perf_counter()
        subprocess.run(["dvc", "repro"], cwd=root, env=env, check=True, capture_output=True)
        noop = time.perf_counter() - started
        print("training the tutorials' peer CNN in the same copy (10 epochs, batch 32)...", flush=True)
        return {
            "total": total,
            "stages": stages,
            "noop": noop,
            "peer": peer_seconds(root, env),
            "tracking": tracking_seconds(root),
            "imports": {module: import_seconds(f"pipeline.{module}", root, env) for module in STAGE_MODULES},
            "trained_in": {
                f"{path.parent.parent.name}/{path.parent.name}": json.loads(path.read_text())["precision"]
                for path in sorted((root / "reports" / "variants").glob("*/seed-*/training.json"))
            },
            "comparison": json.loads((root / "reports" / "comparison.json").read_text()),
        }


def print_overheads(measured: dict) -> float:
    """Each stage's wall seconds and what of it is start-up and tracking; the overhead's total."""
    print(f"\n{'stage':<24} {'wall s':>8} {'start-up s':>11} {'tracking s':>11} {'overhead':>9}")
    overhead_total = 0.0
    for stage, seconds in measured["stages"].items():
        module = stage.split("@")[0]
        start_up = measured["imports"][module]
        tracked = measured["tracking"] if module in ("train", "evaluate", "export", "compare") else 0.0
        overhead_total += start_up + tracked
        print(f"{stage:<24} {seconds:>8.1f} {start_up:>11.1f} {tracked:>11.1f} {(start_up + tracked) / seconds:>8.0%}")
    return overhead_total


def print_summary(measured: dict, overhead_total: float, machine: str) -> None:
    total, peer, comparison = measured["total"], measured["peer"], measured["comparison"]
    print(f"\nprecision used:         {', '.join(f'{name} {used}' for name, used in measured['trained_in'].items())}")
    accuracies = ", ".join(f"{row['variant']} {row['test_accuracy']:.4f}" for row in comparison["variants"])
    print(f"test accuracy:          {accuracies} (best: {comparison['best']})")
    shares = stage_shares(measured["stages"], total)
    print(f"stage shares:           {', '.join(f'{kind} {share:.0%}' for kind, share in shares.items())}")
    print(f"peer CNN, 10 epochs:    {peer:.1f} s (tutorial Keras, batch 32, float32)")
    print(f"full default dvc repro: {total:.1f} s ({total / 60:.1f} min) = {total / peer:.2f} × the peer; target ≤ 1.5")
    evaluate_export = shares.get("evaluate", 0.0) + shares.get("export", 0.0)
    print(f"evaluate + export:      {evaluate_export:.0%} of the repro; target ≤ 15 %")
    print(f"no-op dvc repro:        {measured['noop']:.2f} s; target ≤ 3 s")
    print(f"pipeline overhead:      {overhead_total:.1f} s = {overhead_total / total:.0%} of the full repro")
    print(f"measured on:            {machine}")


def bench_class(isa_class: str) -> None:
    env = class_env(isa_class, command_env())
    isa = onednn_isa(env)
    print(f"\n== class {isa_class}: {cpu.model()}, oneDNN uses {isa}", flush=True)
    measured = measure_class(env)
    emulated = ", emulated: seconds are a lower bound of a real CPU of that class" if isa_class != "native" else ""
    print_summary(measured, print_overheads(measured), f"{cpu.model()}, class {isa_class} (oneDNN {isa}){emulated}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--classes", nargs="+", choices=list(CLASS_ENV), default=list(CLASS_ENV))
    for isa_class in parser.parse_args().classes:
        bench_class(isa_class)


if __name__ == "__main__":
    main()
