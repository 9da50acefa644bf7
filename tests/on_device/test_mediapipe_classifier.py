"""MediaPipe's ImageClassifier behind one clear line for each thing a user can get wrong."""

import subprocess
import sys

import numpy as np
import pytest
from conftest import REPOSITORY

from pipeline.core.config import VariantParams
from pipeline.core.errors import PipelineError
from pipeline.core.frameworks import keras, tf
from pipeline.on_device.app_metadata import with_metadata
from pipeline.on_device.app_model import build_app_model
from pipeline.on_device.mediapipe_classifier import category_names, check_rgb, classify, classify_timed
from pipeline.reporting.metrics import softmax
from pipeline.training.architectures import build_model

SHAPE = (12, 12, 3)
CLASSES = ("cat", "dog", "bird")


@pytest.fixture(scope="module")
def folder_model() -> keras.Model:
    """An untrained CNN of small RGB images: its scores differ by class, which is all these tests need."""
    return build_model(VariantParams(model="cnn", filters=(4,), hidden_units=(8,)), len(CLASSES), SHAPE)


@pytest.fixture(scope="module")
def without_metadata(folder_model) -> bytes:
    return build_app_model(folder_model)


@pytest.fixture(scope="module")
def app_file(without_metadata) -> bytes:
    return with_metadata(without_metadata, CLASSES)


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, size=(6, *SHAPE), dtype=np.uint8)


def _one_line_error(call, *args, match: str) -> str:
    with pytest.raises(PipelineError, match=match) as raised:
        call(*args)
    assert "\n" not in str(raised.value)
    return str(raised.value)


def test_scores_come_back_in_label_order_with_the_class_names(app_file, folder_model, images):
    expected = softmax(np.asarray(folder_model(images.astype(np.float32), training=False), np.float64))
    np.testing.assert_allclose(classify(app_file, images), expected, atol=1e-4)
    assert category_names(app_file, images[0]) == list(CLASSES)


def test_images_of_another_size_are_resized_by_mediapipe_and_each_is_timed(app_file, images):
    larger = images.repeat(3, axis=1).repeat(3, axis=2)
    scores, seconds = classify_timed(app_file, larger)
    assert scores.shape == (len(images), len(CLASSES)) and (seconds > 0).all()


def test_a_file_path_works_as_well_as_its_content(tmp_path, app_file, images):
    path = tmp_path / "model_app.tflite"
    path.write_bytes(app_file)
    np.testing.assert_array_equal(classify(path, images), classify(app_file, images))


def test_a_grey_image_is_refused_before_mediapipe_sees_it(app_file, images):
    grey = images[..., 0]
    message = _one_line_error(classify, app_file, grey, match="takes uint8 RGB images")
    assert "(6, 12, 12)" in message and "convert" in message
    _one_line_error(check_rgb, images.astype(np.float32), match="not float32")
    _one_line_error(check_rgb, np.concatenate([images, images[..., :1]], axis=-1), match=r"not uint8 \(6, 12, 12, 4\)")


def test_a_corrupt_empty_or_missing_file_says_so(tmp_path, app_file, images):
    _one_line_error(classify, b"not a model at all" * 50, images, match="the model is not a TensorFlow Lite model")
    (tmp_path / "empty.tflite").write_bytes(b"")
    _one_line_error(classify, tmp_path / "empty.tflite", images, match="empty.tflite is empty")
    _one_line_error(classify, tmp_path / "missing.tflite", images, match="cannot read .*missing.tflite")


def test_a_file_without_labels_classifies_but_has_no_class_names(without_metadata, images):
    assert classify(without_metadata, images).shape == (len(images), len(CLASSES))
    _one_line_error(category_names, without_metadata, images[0], match="has no label metadata: write it with")


def test_a_float_input_file_without_normalization_metadata_is_refused_with_the_fix(images):
    model = keras.Sequential([keras.Input(SHAPE, batch_size=1), keras.layers.Flatten(), keras.layers.Dense(3)])
    content = tf.lite.TFLiteConverter.from_keras_model(model).convert()
    _one_line_error(classify, content, images, match="takes float pixels but has no normalization metadata")


def test_the_grey_28x28_files_are_refused_with_a_pointer_to_the_app_flavour(images):
    model = build_model(VariantParams(model="mlp", hidden_units=(8,)))  # float32 [batch, 28, 28], as model.tflite
    grey_file = tf.lite.TFLiteConverter.from_keras_model(model).convert()
    _one_line_error(classify, grey_file, images, match="takes no RGB images .*model_app.tflite")


def test_importing_it_leaves_tensorflow_out():
    code = "import sys, pipeline.on_device.mediapipe_classifier; print('tensorflow' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], cwd=REPOSITORY, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
    assert result.stderr == ""  # MediaPipe's native start-up lines are silenced
