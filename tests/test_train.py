import numpy as np
import pytest

from pipeline.config import EarlyStoppingParams, StopAtParams, VariantParams
from pipeline.models import build_model, compile_model
from pipeline.train import configure_runtime, stopped_early, train_model


def separable_dataset(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Images whose class is a bright bar at a class-specific row: easy to learn in two epochs."""
    rng = np.random.default_rng(seed)
    labels = np.arange(count) % 10
    images = rng.integers(0, 40, size=(count, 28, 28), dtype=np.uint8)
    for image, label in zip(images, labels):
        image[2 + 2 * label : 4 + 2 * label, :] = 255
    return images, labels


def _train(spec: VariantParams, seed: int = 1):
    configure_runtime(seed, threads=2)
    model = compile_model(build_model(spec), spec, steps_per_epoch=13)
    history = train_model(model, separable_dataset(400, 0), separable_dataset(100, 1), spec, seed=seed)
    return model, history


@pytest.mark.parametrize("model_type", ["mlp", "cnn"])
def test_training_learns_and_validates_every_epoch(model_type):
    spec = VariantParams(model=model_type, epochs=2, batch_size=32, learning_rate=0.003)
    _, history = _train(spec)
    assert set(history) >= {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert all(len(values) == 2 for values in history.values())
    assert history["val_accuracy"][-1] > 0.9


def test_same_seed_gives_identical_weights():
    spec = VariantParams(model="cnn", filters=(8,), hidden_units=(16,), epochs=1, batch_size=32, dropout=0.2)
    first, _ = _train(spec, seed=7)
    second, _ = _train(spec, seed=7)
    for a, b in zip(first.get_weights(), second.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_a_stop_is_reported_with_its_rule_and_epoch():
    history = {"loss": [0.9, 0.5], "val_accuracy": [0.8, 0.91]}
    stop_at = VariantParams(model="mlp", epochs=10, stop_at=StopAtParams(monitor="val_accuracy", target=0.9))
    assert stopped_early(stop_at, history) == {"stopped_after_epoch": 2, "stopped_by": "stop_at val_accuracy 0.9"}
    patient = VariantParams(model="mlp", epochs=10, early_stopping=EarlyStoppingParams(patience=1))
    assert stopped_early(patient, history)["stopped_by"] == "early_stopping val_loss"
    assert stopped_early(VariantParams(model="mlp", epochs=2), history)["stopped_after_epoch"] is None


def test_the_custom_loop_trains_through_train_model_with_the_same_history(capsys):
    spec = VariantParams(model="mlp", hidden_units=(32,), epochs=2, batch_size=32, learning_rate=0.003, loop="custom")
    configure_runtime(1, threads=2)
    model = compile_model(build_model(spec), spec, steps_per_epoch=13)
    history = train_model(model, separable_dataset(400, 0), separable_dataset(100, 1), spec, seed=1)
    assert list(history) == ["loss", "accuracy", "val_loss", "val_accuracy"]
    assert history["val_accuracy"][-1] > 0.9
    assert "Epoch 2/2" in capsys.readouterr().out
