"""The app flavour the export stage ships: the build measured fit, with the labels."""

import dataclasses

import numpy as np
import pytest

from pipeline.core import config
from pipeline.core.errors import PipelineError
from pipeline.core.paths import APP_FLAVOURS
from pipeline.data.dataset_info import CLASS_NAMES
from pipeline.on_device.app_release import app_flavour
from pipeline.on_device.mediapipe_classifier import category_names
from pipeline.on_device.photo_like import as_rgb

PARAMS = {
    "seed": 0,
    "seeds": [0],
    "threads": 2,
    "data": {},
    "run_variants": ["cnn"],
    "variants": {"cnn": {"model": "cnn"}},
    "export": {"app": {"calibration_images": 50, "test_images": 100, "mediapipe_images": 30}},
}


@pytest.fixture(scope="module")
def keras_logits(trained_cnn, real_data):
    return trained_cnn.predict(real_data.test_images.astype(np.float32), verbose=0)


def test_the_app_flavour_shipped_is_the_build_measured_fit_and_carries_the_labels(trained_cnn, real_data, keras_logits):
    params = config.parse_params(PARAMS)
    test = (real_data.test_images, real_data.test_labels)
    content, report = app_flavour(trained_cnn, CLASS_NAMES, real_data.train_images, test, keras_logits, params)
    app = params.export.app
    assert report["flavour"] in APP_FLAVOURS
    assert (report["test_images"], report["mediapipe_images"]) == (app.test_images, app.mediapipe_images)
    assert report["confidence"] == params.compare.confidence
    assert len(content) == report[report["flavour"]]["size_bytes"]
    shipped = report[report["flavour"]]["rgb"]["accuracy"]
    count = app.test_images
    keras = float(np.mean(keras_logits[:count].argmax(1) == test[1][:count]))
    assert report["accuracy_drop"] == pytest.approx(keras - shipped, abs=1e-6)
    assert report["accuracy_drop"] <= 0.02  # the app flavour's scores on block-upscaled images are Keras's, or nearly
    size = app.input_size
    image = as_rgb(test[0][:1], (size, size))[0]
    assert sorted(category_names(content, image)) == sorted(CLASS_NAMES)


def test_an_input_size_that_is_no_multiple_of_the_images_is_refused_before_any_build(trained_cnn, real_data):
    params = config.parse_params(PARAMS)
    params = dataclasses.replace(
        params, export=dataclasses.replace(params.export, app=dataclasses.replace(params.export.app, input_size=100))
    )
    test = (real_data.test_images, real_data.test_labels)
    with pytest.raises(PipelineError, match="must be a multiple of 28, not 100"):
        app_flavour(trained_cnn, CLASS_NAMES, real_data.train_images, test, np.zeros((len(test[1]), 10)), params)
