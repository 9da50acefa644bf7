import dataclasses

import pytest

from pipeline.config import StopAtParams, VariantParams
from pipeline.evaluate import cross_entropy
from pipeline.loop import HISTORY_KEYS, StopAtTarget, fit, fit_custom, stopping_callbacks
from pipeline.models import build_model, compile_model, loss_function
from pipeline.train import configure_runtime, make_dataset

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
    assert list(history) == list(HISTORY_KEYS) and all(len(values) == 2 for values in history.values())
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
    assert len(history["loss"]) == stopper.stopped_epoch == 1


def test_a_loss_target_is_reached_from_above():
    stopper = StopAtTarget("loss", 0.4)
    assert stopper.reached(0.39) and stopper.reached(0.4) and not stopper.reached(0.41)
    assert StopAtTarget("val_accuracy", 0.9).reached(0.91)
