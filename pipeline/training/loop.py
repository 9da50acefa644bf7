"""How a compiled model is trained: Keras `fit`, or the tutorials' `tf.GradientTape` loop.

Both take the same tf.data pipelines and Keras callbacks, validate after every epoch and return
the same per-epoch history (loss, accuracy, val_loss, val_accuracy), so early stopping, the
stop-at-target callback, the MLflow epoch logger and the history file work the same with either.
"""

import sys
import time
from collections.abc import Sequence

import numpy as np

from pipeline.core.config import MONITORS, VariantParams
from pipeline.core.frameworks import keras, tf
from pipeline.training.architectures import loss_function

VALIDATION_BATCH = 1024


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


class StopAtTarget(keras.callbacks.Callback):
    """Stop as soon as a monitored value reaches a target, as the tutorials' callback does:
    `val_accuracy >= 0.9`, or `loss <= 0.4` (losses stop at or below, the rest at or above)."""

    def __init__(self, monitor: str, target: float):
        super().__init__()
        self.monitor, self.target = monitor, target

    def reached(self, value: float) -> bool:
        return value <= self.target if self.monitor.endswith("loss") else value >= self.target

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if self.reached(float((logs or {})[self.monitor])):
            self.model.stop_training = True


def stopping_callbacks(spec: VariantParams) -> list[keras.callbacks.Callback]:
    """The variant's early stopping and stop-at-target callbacks, if it asks for them."""
    callbacks = []
    if spec.early_stopping:
        early = spec.early_stopping
        callbacks.append(
            keras.callbacks.EarlyStopping(
                monitor=early.monitor, patience=early.patience, restore_best_weights=early.restore_best_weights
            )
        )
    if spec.stop_at:
        callbacks.append(StopAtTarget(spec.stop_at.monitor, spec.stop_at.target))
    return callbacks


def fit(model: keras.Model, train: tf.data.Dataset, val: tf.data.Dataset, epochs: int, callbacks: Sequence) -> dict:
    """Keras `fit`, validating every epoch; the tf.data pipeline does the (seeded) shuffling."""
    history = model.fit(train, validation_data=val, epochs=epochs, callbacks=list(callbacks), shuffle=False, verbose=2)
    return {key: history.history[key] for key in MONITORS}


class GradientTapeLoop:
    """The tutorials' custom loop: forward pass, loss, `tape.gradient`, `optimizer.apply_gradients`,
    each step compiled with `tf.function`; the mean loss and accuracy are kept per epoch."""

    def __init__(self, model: keras.Model, loss_fn, optimizer: keras.optimizers.Optimizer):
        self.model, self.loss_fn, self.optimizer = model, loss_fn, optimizer
        self.loss = keras.metrics.Mean()
        self.accuracy = keras.metrics.SparseCategoricalAccuracy()

    @tf.function
    def train_step(self, images: tf.Tensor, labels: tf.Tensor) -> None:
        with tf.GradientTape() as tape:
            logits = self.model(images, training=True)
            loss = keras.ops.mean(self.loss_fn(labels, logits))
        gradients = tape.gradient(loss, self.model.trainable_variables)
        self.optimizer.apply_gradients(zip(gradients, self.model.trainable_variables))
        self.loss.update_state(loss)
        self.accuracy.update_state(labels, logits)

    @tf.function
    def test_step(self, images: tf.Tensor, labels: tf.Tensor) -> None:
        logits = self.model(images, training=False)
        self.loss.update_state(keras.ops.mean(self.loss_fn(labels, logits)))
        self.accuracy.update_state(labels, logits)

    def run_epoch(self, data: tf.data.Dataset, step, after_batch) -> tuple[float, float]:
        self.loss.reset_state()
        self.accuracy.reset_state()
        for batch, (images, labels) in enumerate(data):
            step(images, labels)
            after_batch(batch)
        return float(self.loss.result()), float(self.accuracy.result())


def fit_custom(
    model: keras.Model, train: tf.data.Dataset, val: tf.data.Dataset, epochs: int, loss_fn, callbacks: Sequence
) -> dict:
    """Train with the GradientTape loop and the model's compiled optimizer, calling the callbacks
    as `fit` does, and printing one line per epoch as `fit(verbose=2)` does."""
    loop = GradientTapeLoop(model, loss_fn, model.optimizer)
    callback_list = keras.callbacks.CallbackList(list(callbacks), model=model)
    history = {key: [] for key in MONITORS}
    model.stop_training = False
    callback_list.on_train_begin()
    for epoch in range(epochs):
        callback_list.on_epoch_begin(epoch)
        started = time.perf_counter()
        logs = dict(zip(("loss", "accuracy"), loop.run_epoch(train, loop.train_step, callback_list.on_train_batch_end)))
        logs |= dict(
            zip(("val_loss", "val_accuracy"), loop.run_epoch(val, loop.test_step, callback_list.on_test_batch_end))
        )
        print(
            f"Epoch {epoch + 1}/{epochs} - {time.perf_counter() - started:.0f}s - "
            + " - ".join(f"{key}: {value:.4f}" for key, value in logs.items()),
            flush=True,
        )
        for key in MONITORS:
            history[key].append(logs[key])
        callback_list.on_epoch_end(epoch, logs)
        if model.stop_training:
            break
    callback_list.on_train_end()
    return history


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
    spec: VariantParams,
    seed: int,
    callbacks: Sequence[keras.callbacks.Callback] = (),
) -> dict[str, list[float]]:
    """Train a compiled model with the variant's loop (Keras fit or the GradientTape loop) and
    stopping rules, validating every epoch; returns the per-epoch history."""
    data = make_dataset(*train, spec.batch_size, shuffle_seed=seed), make_dataset(*val, VALIDATION_BATCH)
    callbacks = [*callbacks, *stopping_callbacks(spec)]
    if spec.loop == "custom":
        return fit_custom(model, *data, spec.epochs, loss_function(spec), callbacks)
    return fit(model, *data, spec.epochs, callbacks)
