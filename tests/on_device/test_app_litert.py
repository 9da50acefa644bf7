"""LiteRT running the app flavour's file as MediaPipe's ImageClassifier does: the same scores, one image a call.

If a future MediaPipe resizes or normalizes RGB images at the input size differently, the scores part and
this fails: then the whole-set RGB figures (pipeline/on_device/app_measurement.py) are no longer MediaPipe's.
"""

import numpy as np
import pytest

from pipeline.core.errors import PipelineError
from pipeline.core.paths import APP_FLAVOURS
from pipeline.on_device.app_input import DEFAULT_INPUT_SIZE
from pipeline.on_device.app_litert import app_scorer
from pipeline.on_device.mediapipe_classifier import classify
from pipeline.on_device.photo_like import as_rgb
from pipeline.reporting.tables import SCORE_TOLERANCE

SIZE = (DEFAULT_INPUT_SIZE, DEFAULT_INPUT_SIZE)


@pytest.fixture(scope="module")
def rgb_images(real_data) -> np.ndarray:
    return as_rgb(real_data.test_images[:30], SIZE)


@pytest.mark.parametrize("flavour", APP_FLAVOURS)
def test_litert_scores_each_app_build_as_mediapipe_does(app_files, rgb_images, flavour):
    scores = app_scorer(app_files[flavour], threads=2)(rgb_images)
    expected = classify(app_files[flavour], rgb_images)
    assert scores.shape == expected.shape and scores.dtype == np.float32
    np.testing.assert_array_equal(scores.argmax(axis=1), expected.argmax(axis=1))
    np.testing.assert_allclose(scores, expected, rtol=0, atol=SCORE_TOLERANCE)


def test_a_file_that_is_no_model_is_refused_naming_it():
    with pytest.raises(PipelineError, match="^the int8 app flavour is not a TensorFlow Lite model: "):
        app_scorer(b"not a flatbuffer", threads=1, source="the int8 app flavour")


def test_images_it_cannot_take_are_refused_naming_the_file(app_files, rgb_images):
    scorer = app_scorer(app_files["float32"], threads=1, source="the float32 app flavour")
    with pytest.raises(PipelineError, match="^the float32 app flavour failed to run: "):
        scorer(rgb_images[:2].astype(np.float32))


def test_a_model_that_is_no_app_flavour_is_refused_naming_it(model_files):
    """The grey 28×28 `model.tflite` (pixels in, logits out) is a model, but not one MediaPipe runs."""
    with pytest.raises(PipelineError) as refused:
        app_scorer(model_files["float32"].read_bytes(), threads=1, source="model.tflite")
    assert str(refused.value) == (
        "model.tflite has no `serving_default` signature taking `image` and returning `scores` "
        "(it has {'serving_default': {'inputs': ['pixels'], 'outputs': ['logits']}}): it is not an app flavour"
    )
