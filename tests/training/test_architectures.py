import keras
import numpy as np
import pytest

from pipeline.core.config import AugmentParams, VariantParams
from pipeline.training import cpu
from pipeline.training.architectures import as_float32, build_model, compile_model, learning_rate_schedule, one_hot_mse


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


@pytest.mark.parametrize("model_type", ["mlp", "cnn"])
def test_models_take_the_datasets_image_shape_and_score_its_classes(model_type):
    spec = VariantParams(model=model_type, filters=(8,), hidden_units=(16,), precision="mixed_bfloat16")
    model = build_model(spec, num_classes=3, input_shape=(16, 20, 3), precision=spec.precision)
    assert model.input_shape == (None, 16, 20, 3) and model.inputs[0].name == "pixels"
    pixels = np.random.default_rng(0).integers(0, 256, size=(2, 16, 20, 3)).astype(np.float32)
    float_model = as_float32(model, spec)
    assert float_model.input_shape == (None, 16, 20, 3) and float_model.output_shape == (None, 3)
    assert float_model.predict(pixels, verbose=0).shape == (2, 3)
    grey = build_model(spec, num_classes=5, input_shape=(12, 12))
    assert grey.predict(pixels[:, :12, :12, 0], verbose=0).shape == (2, 5)


def test_mlp_is_the_tutorial_architecture():
    model = build_model(VariantParams(model="mlp", hidden_units=(128,)))
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
    spec = VariantParams(model="mlp", learning_rate=0.005)
    model = compile_model(build_model(spec), spec, steps_per_epoch=10)
    assert float(model.optimizer.learning_rate) == pytest.approx(0.005)
    assert model.loss.from_logits


def test_cosine_schedule_decays_to_zero_over_the_whole_run():
    spec = VariantParams(model="mlp", learning_rate=0.004, epochs=5, lr_schedule="cosine")
    schedule = learning_rate_schedule(spec, steps_per_epoch=20)
    assert float(schedule(0)) == pytest.approx(0.004)
    assert float(schedule(50)) == pytest.approx(0.002)
    assert float(schedule(100)) == pytest.approx(0.0, abs=1e-9)
    assert learning_rate_schedule(VariantParams(model="mlp", learning_rate=0.004), 20) == 0.004


def test_batch_norm_replaces_the_convolution_bias():
    plain = build_model(VariantParams(model="cnn", filters=(8,)))
    normed = build_model(VariantParams(model="cnn", filters=(8,), batch_norm=True))
    assert "BatchNormalization" in _layer_types(normed) and "BatchNormalization" not in _layer_types(plain)
    # 8 conv biases removed; 4 × 8 normalization weights added.
    assert normed.count_params() == plain.count_params() - 8 + 32


def test_mixed_precision_computes_in_bfloat16_but_saves_float32():
    spec = VariantParams(model="cnn", filters=(8,), hidden_units=(16,), precision="mixed_bfloat16")
    mixed = build_model(spec, precision=spec.precision)
    assert mixed.layers[-2].compute_dtype == "bfloat16"
    assert mixed.layers[-1].compute_dtype == "float32"  # the logits
    float_model = as_float32(mixed, spec)
    assert {layer.compute_dtype for layer in float_model.layers} == {"float32"}
    for a, b in zip(mixed.get_weights(), float_model.get_weights()):
        np.testing.assert_array_equal(a, b)
    pixels = np.random.default_rng(0).integers(0, 256, size=(4, 28, 28)).astype(np.float32)
    if not BFLOAT16_CAPPED:  # (with the cap, TensorFlow still sends bfloat16 to oneDNN, which aborts)
        np.testing.assert_allclose(float_model.predict(pixels, verbose=0), mixed.predict(pixels, verbose=0), atol=0.05)
    assert keras.mixed_precision.global_policy().name == "float32"  # the global policy is restored


# A bfloat16 CPU run as an AVX2 one (ONEDNN_MAX_CPU_ISA=AVX2): bfloat16 inference aborts the process there.
BFLOAT16_CAPPED = cpu.bfloat16_capped()

AUGMENT = AugmentParams(flip=True, rotation=0.1, zoom=0.1, translation=0.1)


def test_augmentation_layers_are_in_the_model_only_when_asked():
    plain = _layer_types(build_model(VariantParams(model="cnn")))
    augmented = _layer_types(build_model(VariantParams(model="cnn", augment=AUGMENT)))
    transforms = ["RandomFlip", "RandomRotation", "RandomZoom", "RandomTranslation"]
    assert not set(transforms) & set(plain)
    assert [name for name in augmented if name.startswith("Random")] == transforms
    assert augmented.index("RandomTranslation") < augmented.index("Rescaling") < augmented.index("Conv2D")


@pytest.mark.parametrize("model_type", ["mlp", "cnn"])
def test_augmentation_changes_training_inputs_but_not_predictions(model_type):
    model = build_model(VariantParams(model=model_type, augment=AUGMENT))
    pixels = np.random.default_rng(0).integers(0, 256, size=(4, 28, 28)).astype(np.float32)
    inference = [model(pixels, training=False).numpy() for _ in range(2)]
    np.testing.assert_array_equal(inference[0], inference[1])
    assert not np.allclose(model(pixels, training=True).numpy(), inference[0])


def test_mse_loss_compares_probabilities_with_one_hot_labels():
    logits = np.array([[10.0, 0.0, 0.0], [0.0, 0.0, 0.0]], np.float32)
    loss = one_hot_mse(np.array([0, 2]), logits).numpy()
    assert loss[0] == pytest.approx(0.0, abs=1e-4)  # confident and right
    assert loss[1] == pytest.approx(((1 / 3) ** 2 * 2 + (2 / 3) ** 2) / 3, rel=1e-5)  # unsure


def test_a_model_compiled_with_mse_saves_and_loads_safely(tmp_path):
    spec = VariantParams(model="mlp", hidden_units=(8,), loss="mse")
    model = compile_model(build_model(spec), spec, steps_per_epoch=1)
    model.save(tmp_path / "model.keras")
    loaded = keras.models.load_model(tmp_path / "model.keras", safe_mode=True)
    assert loaded.loss is one_hot_mse or getattr(loaded.loss, "fn", None) is one_hot_mse
