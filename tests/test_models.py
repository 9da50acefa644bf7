import keras
import numpy as np
import pytest

from pipeline.config import VariantParams
from pipeline.models import build_model, compile_model


def _layer_types(model: keras.Model) -> list[str]:
    return [type(layer).__name__ for layer in model.layers]


@pytest.mark.parametrize("model_type", ["mlp", "cnn"])
def test_models_take_raw_pixels_and_return_ten_logits(model_type):
    model = build_model(VariantParams(model=model_type))
    pixels = np.random.default_rng(0).integers(0, 256, size=(3, 28, 28)).astype(np.float32)
    logits = model.predict(pixels, verbose=0)
    assert logits.shape == (3, 10)
    assert model.input_shape == (None, 28, 28)
    assert "Rescaling" in _layer_types(model)


def test_mlp_is_the_tutorial_architecture():
    model = build_model(VariantParams(model="mlp", hidden_units=128))
    # Flatten -> Dense(128) -> Dense(10): 784*128 + 128 + 128*10 + 10 parameters.
    assert model.count_params() == 101_770
    assert "Dropout" not in _layer_types(model)


def test_cnn_depth_follows_the_filters():
    shallow = build_model(VariantParams(model="cnn", filters=(16,)))
    deep = build_model(VariantParams(model="cnn", filters=(16, 32, 64)))
    assert _layer_types(shallow).count("Conv2D") == 1
    assert _layer_types(deep).count("Conv2D") == 3
    assert [layer.filters for layer in deep.layers if isinstance(layer, keras.layers.Conv2D)] == [16, 32, 64]


@pytest.mark.parametrize("model_type", ["mlp", "cnn"])
def test_dropout_is_present_only_when_asked(model_type):
    with_dropout = build_model(VariantParams(model=model_type, dropout=0.3))
    rates = [layer.rate for layer in with_dropout.layers if isinstance(layer, keras.layers.Dropout)]
    assert rates and all(rate == 0.3 for rate in rates)
    assert "Dropout" not in _layer_types(build_model(VariantParams(model=model_type, dropout=0.0)))
    # Dropout adds no parameters.
    assert with_dropout.count_params() == build_model(VariantParams(model=model_type)).count_params()


def test_compiled_model_uses_the_learning_rate_and_logit_loss():
    model = compile_model(build_model(VariantParams(model="mlp")), learning_rate=0.005)
    assert float(model.optimizer.learning_rate) == pytest.approx(0.005)
    assert model.loss.from_logits
