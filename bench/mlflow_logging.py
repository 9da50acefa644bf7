"""What MLflow 3's logged models and datasets add to each stage, per variant, in seconds.

    python bench/mlflow_logging.py [--repeats 3]

After `dvc repro` (it reads `models/<variant>/model.keras` and `data/prepared/`). In a scratch SQLite
store, in one process per variant (so the first call pays MLflow's imports, as a stage does), times
what the stages do for MLflow 3 beyond logging params, metrics and files:
- train: `mlflow.keras.log_model` (signature, input example checked by MLflow, pinned requirements)
  against `mlflow.log_artifact` of the `.keras` file, which it replaced; and logging the train and
  val splits as datasets (their digest: the MD5 of each file);
- evaluate and export: logging the test split, and metrics linked to the model and the dataset
  against the same metrics unlinked.
Prints the median of `--repeats` rounds (the first round, with the imports, separately).
"""

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PROBE = """
import json, sys, tempfile, time
from pathlib import Path
import mlflow
from pipeline.core import config
from pipeline.core.paths import VariantPaths, split_path
from pipeline.data.split_files import load_split
from pipeline.tracking import logged_model, mirror
from pipeline.tracking.datasets import as_mlflow_dataset, log_splits
from pipeline.training.keras_file import load_keras_model

variant, store, repeats = sys.argv[1], sys.argv[2], int(sys.argv[3])
mlflow.set_tracking_uri(store)
mlflow.set_experiment("logging-cost")
KERAS_FILE = VariantPaths(variant).seed(config.load_params().shipped_seed).model  # the exported seed's model
model = load_keras_model(KERAS_FILE)
splits = {split: load_split(split_path(split)) for split in ("train", "val", "test")}
metrics = json.loads(VariantPaths(variant).tflite_metrics.read_text())
rounds = []
for _ in range(repeats + 1):
    timings = {}
    with mlflow.start_run():
        start = time.perf_counter()
        mlflow.log_artifact(str(KERAS_FILE))
        timings["keras file as an artifact (before)"] = time.perf_counter() - start
        start = time.perf_counter()
        model_id = logged_model.log_keras_model(model, variant, splits["val"][0], tags={"variant": variant})
        timings["train: log_model"] = time.perf_counter() - start
        start = time.perf_counter()
        log_splits({s: as_mlflow_dataset(s, *splits[s], "fashion_mnist") for s in ("train", "val")})
        timings["train: train+val datasets"] = time.perf_counter() - start
        start = time.perf_counter()
        test = as_mlflow_dataset("test", *splits["test"], "fashion_mnist")
        log_splits({"test": test})
        timings["evaluate/export: test dataset"] = time.perf_counter() - start
        start = time.perf_counter()
        mirror.log_metrics({"tflite": metrics})
        unlinked = time.perf_counter() - start
        start = time.perf_counter()
        mirror.log_metrics({"tflite": metrics}, model_id=model_id, dataset=test)
        timings["export: linked metrics, extra"] = time.perf_counter() - start - unlinked
    rounds.append(timings)
print(json.dumps(rounds))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("variants", nargs="*", help="default: every variant in params.yaml")
    args = parser.parse_args()
    from pipeline.core import config
    from pipeline.training import cpu

    variants = args.variants or list(config.load_params().variants)
    print(f"CPU: {cpu.model()} (class {cpu.isa_class()})")
    print(f"{'variant':<12} {'what':<38} {'first s':>8} {'median s':>9}")
    for variant in variants:
        with tempfile.TemporaryDirectory() as scratch:
            store = f"sqlite:///{scratch}/mlflow.db"
            result = subprocess.run(
                [sys.executable, "-c", PROBE, variant, store, str(args.repeats)],
                cwd=ROOT,
                capture_output=True,
                text=True,
                check=True,
            )
        rounds = json.loads(result.stdout.strip().splitlines()[-1])
        for what in rounds[0]:
            later = statistics.median(r[what] for r in rounds[1:])
            print(f"{variant:<12} {what:<38} {rounds[0][what]:>8.3f} {later:>9.3f}")


if __name__ == "__main__":
    main()
