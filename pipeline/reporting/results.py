"""The variants' results as their stages wrote them, read back and summarized over seeds: what compare
reports and the gate checks."""

import csv
from pathlib import Path

import numpy as np

from pipeline.core import config
from pipeline.core.errors import PipelineError, missing
from pipeline.core.files import read_json
from pipeline.core.paths import TFLITE_FLAVOURS, SeedPaths, VariantPaths
from pipeline.training.history import read_history

SEED_METRICS = ("test_accuracy", "val_accuracy", "train_accuracy", "test_loss", "train_test_gap")  # metrics.json
TRAINING_KEYS = ("train_seconds", "parameters", "epochs", "precision", "cpu_model", "cpu_isa")  # training.json
MEANS = ("test_accuracy", "val_accuracy", "test_loss", "train_test_gap", "train_seconds")  # over seeds


def _fields(path: Path, keys: tuple[str, ...]) -> dict:
    """`keys` of the JSON file at `path`; a file without one of them is named, with the stage to rerun."""
    data = read_json(path)
    try:
        return {key: data[key] for key in keys}
    except (KeyError, TypeError) as error:
        raise PipelineError(f"{path} is malformed ({error!r} missing): rerun the stage that writes it") from error


def seed_result(name: str, seed: int) -> dict:
    """One seed's row: its training summary and test metrics."""
    paths = SeedPaths(name, seed)
    return {"seed": seed, **_fields(paths.training, TRAINING_KEYS), **_fields(paths.metrics, SEED_METRICS)}


def _sd(values: list[float]) -> float | None:
    return round(float(np.std(values, ddof=1)), 6) if len(values) > 1 else None


def variant_summary(name: str, spec: config.VariantParams, seeds: tuple[int, ...]) -> dict:
    """A variant's row: the mean (and sd) of each seed's metrics, every seed's row, and the exported
    (shipped seed's) files as export measured them."""
    per_seed = [seed_result(name, seed) for seed in seeds]
    path = VariantPaths(name).tflite_metrics
    tflite = _fields(path, (*TFLITE_FLAVOURS, "keras_predict_latency_ms_median", "app"))
    first = per_seed[0]
    row = {"variant": name, "model": spec.model, "dropout": spec.dropout, "seeds": per_seed}
    row |= {key: first[key] for key in TRAINING_KEYS if key not in MEANS}  # the shipped seed's
    row |= {key: round(float(np.mean([s[key] for s in per_seed])), 6) for key in MEANS}
    row |= {f"{key}_sd": _sd([s[key] for s in per_seed]) for key in ("test_accuracy", "val_accuracy")}
    row |= {"tflite_accuracy": tflite["float32"]["accuracy"], "tflite_size_bytes": tflite["float32"]["size_bytes"]}
    row["on_device"] = {flavour: tflite[flavour] for flavour in TFLITE_FLAVOURS}
    row["keras_predict_latency_ms_median"] = tflite["keras_predict_latency_ms_median"]
    row["app"] = tflite["app"]
    row["tflite"] = read_json(path)  # everything the gate checks of the exported files
    return row


def read_predictions(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """The `actual` and `predicted` class names of every test image, from evaluate's predictions.csv."""
    try:
        with path.open(newline="") as file:
            rows = list(csv.DictReader(file))
        return np.array([row["actual"] for row in rows]), np.array([row["predicted"] for row in rows])
    except FileNotFoundError as error:
        raise missing(path, "evaluate") from error
    except (KeyError, TypeError) as error:
        raise PipelineError(f"{path} is not a predictions file (actual,predicted): {error!r}") from error


def correct_images(name: str, seeds: tuple[int, ...]) -> dict[int, np.ndarray]:
    """Per seed, which test images the variant's model classified right."""
    correct = {}
    for seed in seeds:
        actual, predicted = read_predictions(SeedPaths(name, seed).predictions)
        correct[seed] = actual == predicted
    return correct


def histories(name: str, seeds: tuple[int, ...]) -> dict[int, dict[str, list[float]]]:
    return {seed: read_history(SeedPaths(name, seed).history) for seed in seeds}


def curves_csv(all_histories: dict[str, dict[int, dict[str, list[float]]]]) -> str:
    """Every variant's and seed's history in long form (one row per epoch and split), for dvc.yaml's
    overlay plots: `variant,seed,epoch,split,accuracy,loss`."""
    rows = ["variant,seed,epoch,split,accuracy,loss"]
    for name, by_seed in all_histories.items():
        for seed, history in by_seed.items():
            for split, prefix in (("train", ""), ("validation", "val_")):
                for epoch, (acc, loss) in enumerate(zip(history[f"{prefix}accuracy"], history[f"{prefix}loss"]), 1):
                    rows.append(f"{name},{seed},{epoch},{split},{acc:.6f},{loss:.6f}")
    return "\n".join(rows) + "\n"


def headline(rows: list[dict]) -> dict:
    """Per variant, the few numbers `dvc metrics show` and `dvc exp show` list (means over seeds): results only,
    no timings, so that two runs of the same code and params write the same file (train seconds are in
    comparison.json and .md, and in MLflow)."""
    keys = ("test_accuracy", "test_accuracy_sd", "val_accuracy", "test_loss", "tflite_size_bytes")
    return {
        row["variant"]: {key: row[key] for key in keys} | {"int8_size_bytes": row["on_device"]["int8"]["size_bytes"]}
        for row in rows
    }
