"""The app flavour's files measured by MediaPipe on each synthetic test set, and the flavour chosen."""

import numpy as np
import pytest

from pipeline.core.paths import APP_FLAVOURS
from pipeline.data.dataset_info import CLASS_NAMES
from pipeline.on_device import app_measurement
from pipeline.on_device.app_input import DEFAULT_INPUT_SIZE
from pipeline.on_device.app_metadata import with_metadata
from pipeline.on_device.app_model import build_app_model, quantize_app_model
from pipeline.on_device.mediapipe_classifier import classify
from pipeline.on_device.photo_like import as_rgb, calibration_images

SIZE = (DEFAULT_INPUT_SIZE, DEFAULT_INPUT_SIZE)


def test_int8_is_chosen_within_the_accuracy_bound():
    float32 = {"rgb": 0.90, "photo_like": 0.88}
    flavour, reason = app_measurement.choose_flavour(float32, {"rgb": 0.899, "photo_like": 0.877}, max_drop=0.005)
    assert flavour == "int8" and "0.0030" in reason
    assert app_measurement.choose_flavour(float32, {"rgb": 0.91, "photo_like": 0.9}, max_drop=0.0)[0] == "int8"


def test_float32_is_chosen_beyond_the_bound_and_the_worst_set_named():
    float32 = {"rgb": 0.90, "photo_like": 0.88}
    flavour, reason = app_measurement.choose_flavour(float32, {"rgb": 0.899, "photo_like": 0.87}, max_drop=0.005)
    assert flavour == "float32" and "photo_like" in reason and "0.0100" in reason and "more than 0.005" in reason


@pytest.mark.slow  # both files on both sets
def test_measure_app_reports_each_file_on_each_set_and_the_choice(trained_cnn, real_data):
    calibration = calibration_images(real_data.train_images, count=200, seed=0, size=SIZE)
    builds = {"float32": build_app_model(trained_cnn), "int8": quantize_app_model(trained_cnn, calibration)}
    app_files = {flavour: with_metadata(content, CLASS_NAMES) for flavour, content in builds.items()}
    test = real_data.test_images[:200], real_data.test_labels[:200]
    keras_logits = trained_cnn.predict(test[0].astype(np.float32), verbose=0)
    report = app_measurement.measure_app(app_files, test, keras_logits, max_int8_drop=0.01, seed=0, chunk=120)
    sets = ("rgb", "photo_like")
    accuracies = {f: {name: report[f][name]["accuracy"] for name in sets} for f in APP_FLAVOURS}
    assert (report["flavour"], report["reason"]) == app_measurement.choose_flavour(*accuracies.values(), 0.01)
    for flavour in APP_FLAVOURS:
        assert report[flavour]["size_bytes"] == len(app_files[flavour])
        for name in sets:
            measured = report[flavour][name]
            assert set(measured) == {"accuracy", "top1_agreement", "latency_ms_median", "latency_ms_p95", "seconds"}
            assert 0 < measured["latency_ms_median"] <= measured["latency_ms_p95"]
    assert report["int8"]["size_bytes"] < 0.5 * report["float32"]["size_bytes"]
    # Made and run in chunks, the same as all at once.
    scores = classify(app_files["float32"], as_rgb(test[0], SIZE))
    assert report["float32"]["rgb"]["accuracy"] == pytest.approx((scores.argmax(1) == test[1]).mean(), abs=1e-6)
