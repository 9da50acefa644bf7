import dataclasses

import keras
import numpy as np
import pytest

from pipeline.core.config import MONITORS, EarlyStoppingParams, StopAtParams, VariantParams
from pipeline.reporting.metrics import cross_entropy
from pipeline.training.architectures import build_model, compile_model, loss_function
from pipeline.training.loop import (
    StopAtTarget,
    configure_runtime,
    fit,
    fit_custom,
    make_dataset,
    stopping_callbacks,
    train_model,
)

SPEC = VariantParams(model="mlp", hidden_units=(64,), epochs=2, batch_size=64, learning_rate=0.002)


def _train_model(real_data, spec: VariantParams, loop: str, callbacks=()):
    configure_runtime(seed=0, threads=2)
    train = make_dataset(real_data.train_images, real_data.train_labels, spec.batch_size, shuffle_seed=0)
    val = make_dataset(real_data.test_images, real_data.test_labels, 500)
    model = compile_model(build_model(spec), spec, steps_per_epoch=-(-len(real_data.train_labels) // spec.batch_size))
    if loop == "custom":
        return model, fit_custom(model, train, val, spec.epochs, loss_function(spec), callbacks)
    return model, fit(model, train, val, spec.epochs, callbacks)


def _train(real_data, spec: VariantParams, loop: str, callbacks=()) -> dict:
    return _train_model(real_data, spec, loop, callbacks)[1]


@pytest.mark.parametrize("loop", ["fit", "custom"])
def test_both_loops_learn_real_images_and_record_every_epoch(real_data, loop, capsys):
    history = _train(real_data, SPEC, loop)
    assert list(history) == list(MONITORS) and all(len(values) == 2 for values in history.values())
    assert history["val_accuracy"][-1] > 0.7  # chance is 0.1
    assert history["loss"][1] < history["loss"][0]
    assert "Epoch 2/2" in capsys.readouterr().out


def test_mse_learns_but_is_less_sure_of_its_answers_than_cross_entropy(real_data):
    images, labels = real_data.test_images.astype("float32"), real_data.test_labels
    losses = {}
    for loss in ("cross_entropy", "mse"):
        model, history = _train_model(real_data, dataclasses.replace(SPEC, loss=loss), "custom")
        assert history["val_accuracy"][-1] > 0.7, loss
        losses[loss] = cross_entropy(model.predict(images, verbose=0), labels)
    assert losses["mse"] > losses["cross_entropy"]


@pytest.mark.parametrize("loop", ["fit", "custom"])
def test_stop_at_target_stops_as_soon_as_an_easy_target_is_reached(real_data, loop):
    spec = dataclasses.replace(SPEC, epochs=10, stop_at=StopAtParams(monitor="val_accuracy", target=0.5))
    (stopper,) = stopping_callbacks(spec)
    history = _train(real_data, spec, loop, [stopper])
    assert len(history["loss"]) == 1


def test_a_loss_target_is_reached_from_above():
    stopper = StopAtTarget("loss", 0.4)
    assert stopper.reached(0.39) and stopper.reached(0.4) and not stopper.reached(0.41)
    assert StopAtTarget("val_accuracy", 0.9).reached(0.91)


def separable_dataset(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Images whose class is a bright bar at a class-specific row: easy to learn in two epochs."""
    rng = np.random.default_rng(seed)
    labels = np.arange(count) % 10
    images = rng.integers(0, 40, size=(count, 28, 28), dtype=np.uint8)
    for image, label in zip(images, labels):
        image[2 + 2 * label : 4 + 2 * label, :] = 255
    return images, labels


def _train_separable(spec: VariantParams, seed: int = 1):
    configure_runtime(seed, threads=2)
    model = compile_model(build_model(spec), spec, steps_per_epoch=13)
    history = train_model(model, separable_dataset(400, 0), separable_dataset(100, 1), spec, seed=seed)
    return model, history


@pytest.mark.parametrize("model_type", ["mlp", "cnn"])
def test_training_learns_and_validates_every_epoch(model_type):
    spec = VariantParams(model=model_type, epochs=2, batch_size=32, learning_rate=0.003)
    _, history = _train_separable(spec)
    assert set(history) >= {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert all(len(values) == 2 for values in history.values())
    assert history["val_accuracy"][-1] > 0.9


def test_same_seed_gives_identical_weights():
    spec = VariantParams(model="cnn", filters=(8,), hidden_units=(16,), epochs=1, batch_size=32, dropout=0.2)
    first, _ = _train_separable(spec, seed=7)
    second, _ = _train_separable(spec, seed=7)
    for a, b in zip(first.get_weights(), second.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_the_custom_loop_trains_through_train_model_with_the_same_history(capsys):
    spec = VariantParams(model="mlp", hidden_units=(32,), epochs=2, batch_size=32, learning_rate=0.003, loop="custom")
    configure_runtime(1, threads=2)
    model = compile_model(build_model(spec), spec, steps_per_epoch=13)
    history = train_model(model, separable_dataset(400, 0), separable_dataset(100, 1), spec, seed=1)
    assert list(history) == ["loss", "accuracy", "val_loss", "val_accuracy"]
    assert history["val_accuracy"][-1] > 0.9
    assert "Epoch 2/2" in capsys.readouterr().out


class WorseningValidation(keras.callbacks.Callback):
    """Makes every epoch's val_loss worse than the last (1, 2, 3, ...) for the callbacks after it, and
    keeps the weights each epoch ended with."""

    def on_train_begin(self, logs=None):
        self.weights = []

    def on_epoch_end(self, epoch, logs=None):
        logs["val_loss"] = float(epoch + 1)
        self.weights.append([weights.copy() for weights in self.model.get_weights()])


@pytest.mark.parametrize("loop", ["fit", "custom"])
@pytest.mark.parametrize("restore", [True, False])
def test_early_stopping_fires_in_both_loops_and_restores_the_best_weights_when_asked(loop, restore):
    stopping = EarlyStoppingParams(monitor="val_loss", patience=2, restore_best_weights=restore)
    spec = VariantParams(model="mlp", hidden_units=(16,), epochs=10, batch_size=64, loop=loop, early_stopping=stopping)
    configure_runtime(1, threads=2)
    model = compile_model(build_model(spec), spec, steps_per_epoch=7)
    worsening = WorseningValidation()
    history = train_model(model, separable_dataset(400, 0), separable_dataset(100, 1), spec, 1, [worsening])
    assert len(history["loss"]) == 3  # epoch 1 is the best; two epochs without improvement stop it
    kept = worsening.weights[0] if restore else worsening.weights[-1]
    for actual, expected in zip(model.get_weights(), kept):
        np.testing.assert_array_equal(actual, expected)
    assert not np.array_equal(worsening.weights[0][0], worsening.weights[-1][0])  # training did move them
