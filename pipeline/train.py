"""Stage `train@<variant>`: build the variant's model, train it, write the model and its history."""

import argparse
import dataclasses
import time
from collections.abc import Sequence

import keras
import numpy as np
import tensorflow as tf

from pipeline import cli, config, tracking
from pipeline.artifacts import atomic_path, load_split, read_json, write_json, write_text
from pipeline.models import build_model, compile_model

HISTORY_COLUMNS = ("loss", "accuracy", "val_loss", "val_accuracy")


def configure_runtime(seed: int, threads: int) -> None:
    """Seed every generator, make ops deterministic and fix the thread counts."""
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)


class EpochLogger(keras.callbacks.Callback):
    """Mirror each epoch's metrics to MLflow as it ends, so `mlflow ui` shows live curves.

    They are logged as `epoch_<name>` so they never mix with evaluate's final metrics.
    """

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        tracking.log_metrics({f"epoch_{key}": value for key, value in (logs or {}).items()}, step=epoch + 1)


def train_model(
    model: keras.Model,
    train: tuple[np.ndarray, np.ndarray],
    val: tuple[np.ndarray, np.ndarray],
    spec: config.VariantParams,
    callbacks: Sequence[keras.callbacks.Callback] = (),
) -> dict[str, list[float]]:
    """Fit a compiled model, validating every epoch; returns the per-epoch history."""
    (train_images, train_labels), (val_images, val_labels) = train, val
    history = model.fit(
        train_images.astype(np.float32),
        train_labels,
        validation_data=(val_images.astype(np.float32), val_labels),
        epochs=spec.epochs,
        batch_size=spec.batch_size,
        callbacks=list(callbacks),
        verbose=2,
    )
    return history.history


def history_csv(history: dict[str, list[float]]) -> str:
    """The per-epoch history as CSV, one row per epoch, for `dvc plots`."""
    rows = [",".join(("epoch", *HISTORY_COLUMNS))]
    for epoch, values in enumerate(zip(*(history[c] for c in HISTORY_COLUMNS)), start=1):
        rows.append(",".join([str(epoch), *(f"{v:.6f}" for v in values)]))
    return "\n".join(rows) + "\n"


def parse_variant() -> str:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("variant", help="a key of `variants` in params.yaml")
    return parser.parse_args().variant


def main() -> None:
    name = parse_variant()
    params = config.load_params()
    spec = params.variant(name)
    paths = config.VariantPaths(name)
    configure_runtime(params.seed, params.threads)
    train, val = load_split(config.split_path("train")), load_split(config.split_path("val"))
    data_hash = read_json(config.DATA_REPORTS_DIR / "summary.json")["data_sha256"]
    model = compile_model(build_model(spec), spec.learning_rate)
    tags = {"data_sha256": data_hash}
    with tracking.variant_run(name, paths.run_file, params.tracking.experiment, new=True, tags=tags):
        tracking.log_params(
            {"variant": dataclasses.asdict(spec), "seed": params.seed, "data": dataclasses.asdict(params.data)}
        )
        started = time.perf_counter()
        history = train_model(model, train, val, spec, [EpochLogger()])
        seconds = time.perf_counter() - started
        with atomic_path(paths.model) as temporary:
            model.save(temporary)
        write_text(paths.history, history_csv(history))
        summary = {
            "train_seconds": round(seconds, 2),
            "parameters": model.count_params(),
            "epochs": len(history["loss"]),
        }
        summary["images_per_second"] = round(summary["epochs"] * len(train[1]) / seconds, 1)
        write_json(paths.training, summary)
        tracking.log_metrics(summary)
        tracking.log_artifacts(paths.model, paths.history)
    print(f"{name}: val_accuracy {history['val_accuracy'][-1]:.4f} after {summary['epochs']} epochs, {seconds:.1f} s")


if __name__ == "__main__":
    cli.run(main)
