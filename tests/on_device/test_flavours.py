import dataclasses

import numpy as np
import pytest

from pipeline.core.config import AugmentParams, VariantParams
from pipeline.core.errors import PipelineError
from pipeline.core.paths import TFLITE_FLAVOURS
from pipeline.on_device import litert
from pipeline.on_device.flavours import convert, representative_images
from pipeline.training.architectures import build_model


@pytest.fixture(scope="module")
def exported(trained_cnn, real_data):
    representative = representative_images(real_data.train_images, count=200, seed=0)
    return convert(trained_cnn, representative)


@pytest.fixture(scope="module")
def keras_logits(trained_cnn, real_data):
    return trained_cnn.predict(real_data.test_images.astype(np.float32), verbose=0)


def test_every_flavour_is_written_and_quantized_files_are_smaller(exported):
    assert list(exported) == list(TFLITE_FLAVOURS)
    sizes = {flavour: len(content) for flavour, content in exported.items()}
    assert sizes["int8"] < sizes["float16"] < sizes["float32"]
    assert sizes["dynamic_range"] < sizes["float16"]


@pytest.mark.parametrize("flavour", TFLITE_FLAVOURS)
def test_every_flavour_runs_by_its_signature_and_matches_keras(exported, flavour, real_data, keras_logits):
    model = litert.TFLiteModel(exported[flavour], threads=2)
    logits = model.logits(real_data.test_images, batch_size=300)
    keras_accuracy = (keras_logits.argmax(1) == real_data.test_labels).mean()
    assert keras_accuracy > 0.75  # the fixture's CNN really learned
    accuracy = (logits.argmax(1) == real_data.test_labels).mean()
    agreement = (logits.argmax(1) == keras_logits.argmax(1)).mean()
    if flavour == "float32":
        assert agreement >= 0.999
        np.testing.assert_allclose(logits, keras_logits, atol=1e-3)
    else:
        assert abs(accuracy - keras_accuracy) <= 0.01, flavour
        assert agreement >= 0.97, flavour


def test_float_files_take_float_pixels_and_int8_takes_int8(exported):
    for flavour in ("float32", "dynamic_range", "float16"):
        model = litert.TFLiteModel(exported[flavour], threads=1)
        assert model.input.dtype == np.float32 and model.output.dtype == np.float32
        assert model.input_shape == (28, 28) and model.num_classes == 10
    int8 = litert.TFLiteModel(exported["int8"], threads=1)
    assert int8.input.dtype == np.int8 and int8.output.dtype == np.int8
    # Calibrated on raw pixels 0-255: one step per grey level, so the input loses nothing.
    assert int8.input.scale == pytest.approx(1.0) and int8.input.zero_point == -128
    assert int8.describe()["input"].startswith("int8[batch, 28, 28], real = 1 * (q - -128)")


def test_only_builtin_ops_no_flex_ops(exported):
    for content in exported.values():
        assert b"Flex" not in content  # Select-TF ops would need the Flex delegate on the phone


def test_representative_images_are_a_seeded_sample_of_the_training_split(real_data):
    first = representative_images(real_data.train_images, count=50, seed=3)
    assert first.shape == (50, 28, 28)
    np.testing.assert_array_equal(first, representative_images(real_data.train_images, count=50, seed=3))
    assert not np.array_equal(first, representative_images(real_data.train_images, count=50, seed=4))


def test_no_representative_images_leaves_int8_uncalibrated_and_is_refused(trained_cnn, real_data):
    with pytest.raises(PipelineError, match="the int8 flavour needs representative inputs"):
        convert(trained_cnn, real_data.train_images[:0])


def _op_names(content: bytes) -> list[str]:
    interpreter = litert.TFLiteModel(content, threads=1).interpreter
    return [op["op_name"] for op in interpreter._get_ops_details()]


def test_augmentation_layers_are_not_exported_and_predictions_match_keras(real_data):
    augment = AugmentParams(flip=True, rotation=0.1, zoom=0.1, translation=0.1)
    spec = VariantParams(model="cnn", filters=(8,), hidden_units=(16,))
    augmented = build_model(dataclasses.replace(spec, augment=augment))
    plain = build_model(spec)
    representative = real_data.train_images[:20]
    augmented_files, plain_files = convert(augmented, representative), convert(plain, representative)
    for flavour in TFLITE_FLAVOURS:
        assert _op_names(augmented_files[flavour]) == _op_names(plain_files[flavour]), flavour
    images = real_data.test_images[:50]
    logits = litert.TFLiteModel(augmented_files["float32"], threads=1).logits(images)
    np.testing.assert_allclose(logits, augmented(images.astype(np.float32), training=False), atol=1e-4)
