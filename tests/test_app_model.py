"""The app flavour as an app developer meets it: MediaPipe's ImageClassifier takes the file, names the classes,
and on RGB images says what the Keras model says on the originals."""

import sys

import numpy as np
import pytest

from pipeline import app_model
from pipeline.config import VariantParams
from pipeline.dataset import CLASS_NAMES
from pipeline.errors import PipelineError
from pipeline.litert import Interpreter
from pipeline.mediapipe_client import category_names, classify
from pipeline.metrics import softmax
from pipeline.models import build_model
from pipeline.paths import APP_FLAVOURS

SIZE = (app_model.DEFAULT_INPUT_SIZE, app_model.DEFAULT_INPUT_SIZE)
IMAGES = 500  # real test images run through MediaPipe (about 0.5 ms each)


@pytest.fixture(scope="module")
def app_files(trained_cnn, real_data) -> dict[str, bytes]:
    """The small trained CNN's app flavours, float32 and int8, with metadata."""
    calibration = app_model.calibration_images(real_data.train_images, count=200, seed=0, size=SIZE)
    contents = {
        "float32": app_model.build_app_model(trained_cnn),
        "int8": app_model.quantize_app_model(trained_cnn, calibration),
    }
    return {flavour: app_model.with_metadata(content, CLASS_NAMES) for flavour, content in contents.items()}


@pytest.fixture(scope="module")
def test_split(real_data) -> tuple[np.ndarray, np.ndarray]:
    return real_data.test_images[:IMAGES], real_data.test_labels[:IMAGES]


@pytest.fixture(scope="module")
def keras_logits(trained_cnn, test_split) -> np.ndarray:
    return trained_cnn.predict(test_split[0].astype(np.float32), verbose=0)


@pytest.fixture(scope="module")
def rgb_images(test_split) -> np.ndarray:
    return app_model.as_rgb(test_split[0], SIZE)


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


def test_the_metadata_names_the_classes_and_says_raw_pixels(app_files, rgb_images):
    read = app_model.read_metadata(app_files["float32"])
    assert read["labels"] == list(CLASS_NAMES)
    (image_input,) = read["metadata"]["subgraph_metadata"][0]["input_tensor_metadata"]
    (normalization,) = image_input["process_units"]
    assert normalization["options"] == {"mean": [0.0], "std": [1.0]}
    # ...and MediaPipe names its categories from it.
    assert category_names(app_files["float32"], rgb_images[0]) == list(CLASS_NAMES)


def test_the_stand_in_for_the_missing_version_module_is_gone_after_writing(app_files):
    assert not any(name.startswith("mediapipe.tasks.cc") for name in sys.modules)


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
    original = classify(app_files[flavour], app_model.as_rgb(images, SIZE)).argmax(1)
    inverted = classify(app_files[flavour], app_model.as_rgb(255 - images, SIZE)).argmax(1)
    # A few originals fill most of their border (long trousers, dresses): those are taken for light backgrounds.
    assert (original == inverted).mean() >= 0.98


@pytest.mark.parametrize("flavour", APP_FLAVOURS)
def test_a_garment_on_grey_paper_gets_the_class_of_its_original(app_files, flavour, real_data):
    images = real_data.test_images[:300]
    original = classify(app_files[flavour], app_model.as_rgb(images, SIZE)).argmax(1)
    on_grey = np.round((255 - images) * (190 / 255)).astype(np.uint8)  # white paper at 190, garment darker
    assert (classify(app_files[flavour], app_model.as_rgb(on_grey, SIZE)).argmax(1) == original).mean() >= 0.95


@pytest.mark.slow  # JPEG round trips of 300 photos
def test_photo_like_images_are_classified_almost_as_well_as_the_originals(app_files, real_data, keras_logits):
    images, labels = real_data.test_images[:300], real_data.test_labels[:300]
    photos = app_model.photo_like(images, size=320, seed=0)
    scores = classify(app_files["float32"], photos)
    keras_accuracy = (keras_logits[:300].argmax(1) == labels).mean()
    assert (scores.argmax(1) == labels).mean() >= keras_accuracy - 0.05


def test_photo_like_images_are_dark_on_light_jpeg_like_rgb_and_seeded(real_data):
    images = real_data.test_images[:5]
    photos = app_model.photo_like(images, size=100, seed=1)
    assert photos.shape == (5, 100, 100, 3) and photos.dtype == np.uint8
    assert photos[:, :3, :3].mean() > 200  # a light background...
    assert not np.array_equal(photos[..., 0], photos[..., 2])  # ...with a colour cast
    np.testing.assert_array_equal(photos, app_model.photo_like(images, size=100, seed=1))


def test_as_rgb_repeats_each_pixel_into_a_block_in_three_channels(real_data):
    images = real_data.test_images[:2]
    rgb = app_model.as_rgb(images, (56, 84))
    assert rgb.shape == (2, 56, 84, 3)
    np.testing.assert_array_equal(rgb[:, ::2, ::3, 1], images)
    np.testing.assert_array_equal(rgb[:, 1::2, 2::3, 0], images)


def test_calibration_images_are_half_dark_on_grey_or_white_paper_for_a_fashion_mnist_model(real_data):
    sample = app_model.calibration_images(real_data.train_images, count=40, seed=0, size=(28, 28))
    assert sample.shape == (40, 28, 28, 3)
    corners = sample[:, 0, 0, 0].astype(int)
    assert (corners[::2] < 50).all()
    low, high = app_model.PAPER_LEVELS
    assert (corners[1::2] >= low - 1).all() and (corners[1::2] <= high).all()
    assert corners[1::2].max() - corners[1::2].min() > 40  # papers of many greys


def test_int8_is_chosen_only_within_the_accuracy_bound():
    float32 = {"rgb": 0.90, "photo_like": 0.88}
    flavour, reason = app_model.choose_flavour(float32, {"rgb": 0.899, "photo_like": 0.877}, max_drop=0.005)
    assert flavour == "int8" and "0.0030" in reason
    flavour, reason = app_model.choose_flavour(float32, {"rgb": 0.899, "photo_like": 0.87}, max_drop=0.005)
    assert flavour == "float32" and "photo_like" in reason and "0.0100" in reason
    assert app_model.choose_flavour(float32, {"rgb": 0.91, "photo_like": 0.9}, max_drop=0.0)[0] == "int8"


@pytest.mark.slow  # both files on both sets
def test_measure_app_reports_each_file_on_each_set_and_the_choice(app_files, real_data, keras_logits):
    test = real_data.test_images[:200], real_data.test_labels[:200]
    report = app_model.measure_app(app_files, test, keras_logits[:200], max_int8_drop=0.01, seed=0, chunk=120)
    sets = ("rgb", "photo_like")
    accuracies = {f: {name: report[f][name]["accuracy"] for name in sets} for f in APP_FLAVOURS}
    assert (report["flavour"], report["reason"]) == app_model.choose_flavour(*accuracies.values(), 0.01)
    for flavour in APP_FLAVOURS:
        assert report[flavour]["size_bytes"] == len(app_files[flavour])
        for name in sets:
            measured = report[flavour][name]
            assert set(measured) == {"accuracy", "top1_agreement", "latency_ms_median", "latency_ms_p95", "seconds"}
            assert 0 < measured["latency_ms_median"] <= measured["latency_ms_p95"]
    assert report["int8"]["size_bytes"] < 0.5 * report["float32"]["size_bytes"]
    # Made and run in chunks, the same as all at once.
    scores = classify(app_files["float32"], app_model.as_rgb(test[0], SIZE))
    assert report["float32"]["rgb"]["accuracy"] == pytest.approx((scores.argmax(1) == test[1]).mean(), abs=1e-6)


def test_the_input_size_of_a_fashion_mnist_model_must_be_a_multiple_of_28():
    assert app_model.app_input_size((28, 28), 112) == (112, 112)
    with pytest.raises(PipelineError, match="must be a multiple of 28, not 100"):
        app_model.app_input_size((28, 28), 100)


@pytest.mark.parametrize("image_shape", [(16, 20, 3), (16, 20)], ids=["rgb", "grey"])
def test_an_image_folder_model_takes_rgb_at_its_own_size_without_inversion(image_shape):
    model = build_model(VariantParams(model="cnn", filters=(4,), hidden_units=(8,)), 3, image_shape)
    content = app_model.with_metadata(app_model.build_app_model(model), ("a", "b", "c"))
    given, _ = _interface(content)
    assert list(given["shape"]) == [1, 16, 20, 3]
    rgb = np.random.default_rng(0).integers(0, 256, size=(8, 16, 20, 3), dtype=np.uint8)
    rgb[:4] = 250  # light borders are not inverted: that is Fashion-MNIST's convention only
    pixels = rgb.astype(np.float32)
    if len(image_shape) == 2:
        pixels = pixels @ np.array(app_model.GREY_WEIGHTS, np.float32)
    expected = softmax(np.asarray(model(pixels, training=False), np.float64))
    np.testing.assert_allclose(classify(content, rgb), expected, atol=1e-4)
