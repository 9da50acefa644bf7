"""Stage `train@<variant>`: build the variant's model, train it, write the model and its history."""

import dataclasses
import sys
import time
from collections.abc import Sequence

import numpy as np

from pipeline import cli, config, tracking
from pipeline.artifacts import atomic_path, load_split, read_json, save_figure, write_history, write_json
from pipeline.models import as_float32, build_model, compile_model
from pipeline.plots import plot_learning_curves

with cli.quiet_native_logs():  # TensorFlow's C++ start-up messages
    import keras
    import tensorflow as tf


def configure_runtime(seed: int, threads: int) -> None:
    """Seed every generator, make ops deterministic and fix the thread counts."""
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    except RuntimeError:
        # TensorFlow already runs in this process (a test session): its thread pools are fixed.
        print("warning: TensorFlow already started; thread counts unchanged", file=sys.stderr)


class EpochLogger(keras.callbacks.Callback):
    """Mirror each epoch's metrics to MLflow as it ends, so `mlflow ui` shows live curves.

    They are logged as `epoch_<name>` so they never mix with evaluate's final metrics.
    """

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        tracking.log_metrics({f"epoch_{key}": value for key, value in (logs or {}).items()}, step=epoch + 1)


VALIDATION_BATCH = 1024


def make_dataset(images: np.ndarray, labels: np.ndarray, batch_size: int, shuffle_seed: int | None = None):
    """A cached, batched, prefetched tf.data pipeline; reshuffled every epoch when seeded."""
    data = tf.data.Dataset.from_tensor_slices((images.astype(np.float32), labels)).cache()
    if shuffle_seed is not None:
        data = data.shuffle(len(labels), seed=shuffle_seed, reshuffle_each_iteration=True)
    return data.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def steps_per_epoch(count: int, batch_size: int) -> int:
    return -(-count // batch_size)


def train_model(
    model: keras.Model,
    train: tuple[np.ndarray, np.ndarray],
    val: tuple[np.ndarray, np.ndarray],
    spec: config.VariantParams,
    seed: int,
    callbacks: Sequence[keras.callbacks.Callback] = (),
) -> dict[str, list[float]]:
    """Fit a compiled model, validating every epoch; returns the per-epoch history."""
    history = model.fit(
        make_dataset(*train, spec.batch_size, shuffle_seed=seed),
        validation_data=make_dataset(*val, VALIDATION_BATCH),
        epochs=spec.epochs,
        callbacks=list(callbacks),
        verbose=2,
    )
    return history.history


def main() -> None:
    name = cli.parse_variant(__doc__)
    params = config.load_params()
    spec = params.variant(name)
    paths = config.VariantPaths(name)
    configure_runtime(params.seed, params.threads)
    train, val = load_split(config.split_path("train")), load_split(config.split_path("val"))
    data_hash = read_json(config.DATA_REPORTS_DIR / "summary.json")["data_sha256"]
    model = build_model(spec, precision=spec.precision)
    model = compile_model(model, spec, steps_per_epoch(len(train[1]), spec.batch_size))
    tags = {"data_sha256": data_hash}
    with tracking.variant_run(name, paths.run_file, params.tracking.experiment, new=True, tags=tags):
        tracking.log_params(
            {"variant": dataclasses.asdict(spec), "seed": params.seed, "data": dataclasses.asdict(params.data)}
        )
        started = time.perf_counter()
        history = train_model(model, train, val, spec, params.seed, [EpochLogger()])
        seconds = time.perf_counter() - started
        with atomic_path(paths.model) as temporary:
            as_float32(model, spec).save(temporary)
        write_history(paths.history, history)
        save_figure(paths.learning_curves, plot_learning_curves({name: history}))
        summary = {
            "train_seconds": round(seconds, 2),
            "parameters": model.count_params(),
            "epochs": len(history["loss"]),
        }
        summary["images_per_second"] = round(summary["epochs"] * len(train[1]) / seconds, 1)
        write_json(paths.training, summary)
        tracking.log_metrics(summary)
        tracking.log_artifacts(paths.model, paths.history, paths.learning_curves)
    print(f"{name}: val_accuracy {history['val_accuracy'][-1]:.4f} after {summary['epochs']} epochs, {seconds:.1f} s")


if __name__ == "__main__":
    cli.run(main)
