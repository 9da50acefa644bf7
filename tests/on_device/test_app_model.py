"""The app flavour as an app developer meets it: MediaPipe's ImageClassifier takes the file, and on RGB images
says what the Keras model says on the originals."""

import numpy as np
import pytest

from pipeline.core.config import VariantParams
from pipeline.core.errors import PipelineError
from pipeline.core.paths import APP_FLAVOURS
from pipeline.data.dataset_info import CLASS_NAMES
from pipeline.on_device import app_model
from pipeline.on_device.app_input import DEFAULT_INPUT_SIZE, GREY_WEIGHTS
from pipeline.on_device.app_metadata import with_metadata
from pipeline.on_device.litert import Interpreter
from pipeline.on_device.mediapipe_classifier import classify
from pipeline.on_device.photo_like import as_rgb
from pipeline.reporting.metrics import softmax
from pipeline.training.architectures import build_model

SIZE = (DEFAULT_INPUT_SIZE, DEFAULT_INPUT_SIZE)
IMAGES = 500  # real test images run through MediaPipe (about 0.5 ms each)


@pytest.fixture(scope="module")
def test_split(real_data) -> tuple[np.ndarray, np.ndarray]:
    return real_data.test_images[:IMAGES], real_data.test_labels[:IMAGES]


@pytest.fixture(scope="module")
def keras_logits(trained_cnn, test_split) -> np.ndarray:
    return trained_cnn.predict(test_split[0].astype(np.float32), verbose=0)


@pytest.fixture(scope="module")
def rgb_images(test_split) -> np.ndarray:
    return as_rgb(test_split[0], SIZE)


def _interface(content: bytes) -> tuple[dict, dict]:
    """The file's one input and one output, as LiteRT describes them."""
    interpreter = Interpreter(model_content=content)
    (given,), (returned,) = interpreter.get_input_details(), interpreter.get_output_details()
    return given, returned


@pytest.mark.parametrize("flavour", APP_FLAVOURS)
def test_the_file_takes_one_uint8_rgb_image_and_returns_float_scores(app_files, flavour):
    given, returned = _interface(app_files[flavour])
    assert given["dtype"] == np.uint8 and list(given["shape"]) == [1, *SIZE, 3]
    assert returned["dtype"] == np.float32 and list(returned["shape"]) == [1, len(CLASS_NAMES)]
    assert given["quantization"] == (0.0, 0)  # int8 too: raw pixels, cast inside, so none is lost
    assert b"Flex" not in app_files[flavour]  # builtin ops only: no Select-TF delegate on the phone


@pytest.mark.parametrize("flavour", APP_FLAVOURS)
def test_mediapipe_scores_in_label_order_agree_with_keras_on_block_upscaled_images(
    app_files, flavour, rgb_images, keras_logits, test_split
):
    scores = classify(app_files[flavour], rgb_images)
    assert scores.shape == (len(rgb_images), len(CLASS_NAMES))
    np.testing.assert_allclose(scores.sum(axis=1), 1.0, atol=0.02)
    agreement = (scores.argmax(1) == keras_logits.argmax(1)).mean()
    if flavour == "float32":
        assert agreement == 1.0
        np.testing.assert_allclose(scores, softmax(keras_logits.astype(np.float64)), atol=1e-4)
    else:
        assert agreement >= 0.98
        keras_accuracy = (keras_logits.argmax(1) == test_split[1]).mean()
        assert abs((scores.argmax(1) == test_split[1]).mean() - keras_accuracy) <= 0.01


@pytest.mark.parametrize("flavour", APP_FLAVOURS)
def test_a_dark_garment_on_light_gets_the_class_of_its_light_on_dark_original(app_files, flavour, real_data):
    images = real_data.test_images[:300]
    original = classify(app_files[flavour], as_rgb(images, SIZE)).argmax(1)
    inverted = classify(app_files[flavour], as_rgb(255 - images, SIZE)).argmax(1)
    # A few originals fill most of their border (long trousers, dresses): those are taken for light backgrounds.
    assert (original == inverted).mean() >= 0.98


@pytest.mark.parametrize("flavour", APP_FLAVOURS)
def test_a_garment_on_grey_paper_gets_the_class_of_its_original(app_files, flavour, real_data):
    images = real_data.test_images[:300]
    original = classify(app_files[flavour], as_rgb(images, SIZE)).argmax(1)
    on_grey = np.round((255 - images) * (190 / 255)).astype(np.uint8)  # white paper at 190, garment darker
    assert (classify(app_files[flavour], as_rgb(on_grey, SIZE)).argmax(1) == original).mean() >= 0.95


@pytest.mark.slow  # JPEG round trips of 300 photos
def test_photo_like_images_are_classified_almost_as_well_as_the_originals(app_files, real_data, keras_logits):
    from pipeline.on_device.photo_like import photo_like

    images, labels = real_data.test_images[:300], real_data.test_labels[:300]
    photos = photo_like(images, size=320, seed=0)
    scores = classify(app_files["float32"], photos)
    keras_accuracy = (keras_logits[:300].argmax(1) == labels).mean()
    assert (scores.argmax(1) == labels).mean() >= keras_accuracy - 0.05


@pytest.mark.parametrize("image_shape", [(16, 20, 3), (16, 20)], ids=["rgb", "grey"])
def test_an_image_folder_model_takes_rgb_at_its_own_size_without_inversion(image_shape):
    model = build_model(VariantParams(model="cnn", filters=(4,), hidden_units=(8,)), 3, image_shape)
    content = with_metadata(app_model.build_app_model(model), ("a", "b", "c"))
    given, _ = _interface(content)
    assert list(given["shape"]) == [1, 16, 20, 3]
    rgb = np.random.default_rng(0).integers(0, 256, size=(8, 16, 20, 3), dtype=np.uint8)
    rgb[:4] = 250  # light borders are not inverted: that is Fashion-MNIST's convention only
    pixels = rgb.astype(np.float32)
    if len(image_shape) == 2:
        pixels = pixels @ np.array(GREY_WEIGHTS, np.float32)
    expected = softmax(np.asarray(model(pixels, training=False), np.float64))
    np.testing.assert_allclose(classify(content, rgb), expected, atol=1e-4)


def test_a_fashion_mnist_model_at_an_input_size_not_a_multiple_of_28_is_refused(trained_cnn):
    with pytest.raises(PipelineError, match="must be a multiple of 28, not 100"):
        app_model.build_app_model(trained_cnn, input_size=100)
