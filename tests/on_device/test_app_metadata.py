"""The app flavour's metadata: the class names and raw-pixel normalization, as MediaPipe reads them."""

import numpy as np
import pytest

from pipeline.core.config import VariantParams
from pipeline.core.errors import PipelineError
from pipeline.on_device.app_metadata import read_metadata, with_metadata
from pipeline.on_device.app_model import build_app_model
from pipeline.on_device.mediapipe_classifier import category_names
from pipeline.training.architectures import build_model

SHAPE = (12, 12, 3)
CLASSES = ("cat", "dog", "bird")


@pytest.fixture(scope="module")
def without_metadata() -> bytes:
    return build_app_model(build_model(VariantParams(model="cnn", filters=(4,), hidden_units=(8,)), 3, SHAPE))


def test_the_metadata_names_the_classes_and_says_raw_pixels(without_metadata):
    content = with_metadata(without_metadata, CLASSES)
    read = read_metadata(content)
    assert read["labels"] == list(CLASSES)
    (image_input,) = read["metadata"]["subgraph_metadata"][0]["input_tensor_metadata"]
    (normalization,) = image_input["process_units"]
    assert normalization["options"] == {"mean": [0.0], "std": [1.0]}
    # ...and MediaPipe names its categories from it.
    assert category_names(content, np.zeros(SHAPE, np.uint8)) == list(CLASSES)


def test_a_file_without_metadata_says_so(without_metadata):
    with pytest.raises(PipelineError, match="^the file has no MediaPipe metadata"):
        read_metadata(without_metadata)
