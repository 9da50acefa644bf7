"""The app flavour's builds measured (LiteRT on every test image as RGB, MediaPipe on a stratified sample), and
the flavour chosen."""

import importlib.metadata

import numpy as np
import pytest

from pipeline.core.config import AppParams
from pipeline.core.paths import APP_FLAVOURS
from pipeline.on_device import app_measurement
from pipeline.on_device.app_input import DEFAULT_INPUT_SIZE
from pipeline.on_device.app_sample import stratified_sample
from pipeline.on_device.mediapipe_classifier import classify
from pipeline.on_device.photo_like import as_rgb

SIZE = (DEFAULT_INPUT_SIZE, DEFAULT_INPUT_SIZE)
TEST_IMAGES, SAMPLE = 200, 40


def test_int8_is_chosen_within_the_accuracy_bound():
    float32 = {"rgb": 0.90, "photo_like": 0.88}
    flavour, reason = app_measurement.choose_flavour(float32, {"rgb": 0.899, "photo_like": 0.877}, max_drop=0.005)
    assert flavour == "int8" and "0.0030" in reason
    assert app_measurement.choose_flavour(float32, {"rgb": 0.91, "photo_like": 0.9}, max_drop=0.0)[0] == "int8"


def test_float32_is_chosen_beyond_the_bound_and_the_worst_set_named():
    float32 = {"rgb": 0.90, "photo_like": 0.88}
    flavour, reason = app_measurement.choose_flavour(float32, {"rgb": 0.899, "photo_like": 0.87}, max_drop=0.005)
    assert flavour == "float32" and "photo_like" in reason and "0.0100" in reason and "more than 0.005" in reason


@pytest.fixture(scope="module")
def report(app_files, trained_cnn, real_data) -> dict:
    """Both builds measured on TEST_IMAGES real test images, MediaPipe on SAMPLE of them, in chunks of 120."""
    test = real_data.test_images[:TEST_IMAGES], real_data.test_labels[:TEST_IMAGES]
    keras_logits = trained_cnn.predict(test[0].astype(np.float32), verbose=0)
    app = AppParams(mediapipe_images=SAMPLE, max_int8_accuracy_drop=0.01)
    return app_measurement.measure_app(
        app_files, test, keras_logits, app, seed=0, threads=2, confidence=0.95, chunk=120
    )


def test_the_rgb_figures_cover_every_test_image_and_match_mediapipe_on_all_of_them(report, app_files, real_data):
    images, labels = real_data.test_images[:TEST_IMAGES], real_data.test_labels[:TEST_IMAGES]
    assert report["test_images"] == TEST_IMAGES
    for flavour in APP_FLAVOURS:
        rgb = report[flavour]["rgb"]
        assert rgb["images"] == TEST_IMAGES and rgb["mediapipe_images"] == SAMPLE
        # LiteRT in chunks gives what MediaPipe gives on all of them at once.
        scores = classify(app_files[flavour], as_rgb(images, SIZE))
        assert rgb["accuracy"] == pytest.approx((scores.argmax(1) == labels).mean(), abs=1e-6)
        assert rgb["mediapipe_top1_agreement_with_litert"] == 1.0 and rgb["mediapipe_max_abs_score_diff"] <= 1e-6
        assert 0 < rgb["latency_ms_median"] <= rgb["latency_ms_p95"]


def test_the_photo_like_accuracy_is_measured_on_the_sample_with_its_interval(report):
    assert (report["mediapipe_images"], report["confidence"]) == (SAMPLE, 0.95)
    assert report["mediapipe_version"] == importlib.metadata.version("mediapipe")
    for flavour in APP_FLAVOURS:
        photo = report[flavour]["photo_like"]
        assert photo["images"] == SAMPLE
        assert photo["accuracy_ci_low"] < photo["accuracy"] < photo["accuracy_ci_high"]
        assert photo["accuracy"] * SAMPLE == pytest.approx(round(photo["accuracy"] * SAMPLE))  # a share of SAMPLE
        assert 0 < photo["latency_ms_median"] <= photo["latency_ms_p95"]


def test_the_choice_is_made_on_every_set_and_each_build_has_its_size(report, app_files):
    sets = ("rgb", "photo_like")
    accuracies = {f: {name: report[f][name]["accuracy"] for name in sets} for f in APP_FLAVOURS}
    assert (report["flavour"], report["reason"]) == app_measurement.choose_flavour(*accuracies.values(), 0.01)
    for flavour in APP_FLAVOURS:
        assert report[flavour]["size_bytes"] == len(app_files[flavour])
    assert report["int8"]["size_bytes"] < 0.5 * report["float32"]["size_bytes"]


def test_the_sample_is_capped_at_the_images_measured(app_files, real_data):
    test = real_data.test_images[:30], real_data.test_labels[:30]
    keras_logits = np.eye(10)[test[1]]
    app = AppParams(mediapipe_images=1000)
    report = app_measurement.measure_app(app_files, test, keras_logits, app, seed=0, threads=1, confidence=0.9)
    assert report["mediapipe_images"] == report["float32"]["photo_like"]["images"] == 30
    np.testing.assert_array_equal(stratified_sample(test[1], 1000, seed=0), np.arange(30))
