"""The app flavour's in-graph preparation: a block-upscaled RGB image becomes the model's input again, light
backgrounds are inverted and grey paper made black."""

import numpy as np
import pytest

from pipeline.core.errors import PipelineError
from pipeline.data.dataset_info import IMAGE_SHAPE
from pipeline.data.photos import FASHION_MNIST_INPUT_SHAPES
from pipeline.on_device import app_input
from pipeline.on_device.photo_like import as_rgb

SIZE = (app_input.DEFAULT_INPUT_SIZE, app_input.DEFAULT_INPUT_SIZE)


def _model_input(rgb: np.ndarray, input_shape: tuple[int, ...] = IMAGE_SHAPE) -> np.ndarray:
    return np.concatenate([np.asarray(app_input.to_model_input(image[None], input_shape)) for image in rgb])


def test_only_fashion_mnist_shapes_get_its_preparation():
    assert all(app_input.fashion_style(shape) for shape in FASHION_MNIST_INPUT_SHAPES)
    assert not app_input.fashion_style((16, 20, 3)) and not app_input.fashion_style((32, 32))


def test_the_input_size_of_a_fashion_mnist_model_must_be_a_multiple_of_28():
    side = IMAGE_SHAPE[0]
    assert app_input.app_input_size(IMAGE_SHAPE, 4 * side) == (4 * side, 4 * side)
    assert app_input.app_input_size((16, 20, 3), 4 * side) == (16, 20)  # another model keeps its own size
    with pytest.raises(PipelineError, match=f"must be a multiple of {side}, not 100"):
        app_input.app_input_size(IMAGE_SHAPE, 100)


def test_a_block_upscaled_image_on_black_becomes_its_original(real_data):
    images = real_data.test_images[:4]
    np.testing.assert_allclose(_model_input(as_rgb(images, SIZE)), images, atol=0.01)


def test_a_dark_garment_on_white_is_inverted_to_the_light_on_black_original(real_data):
    images = real_data.test_images[:4]
    np.testing.assert_allclose(_model_input(as_rgb(255 - images, SIZE)), images, atol=0.01)


def test_grey_paper_is_made_black_and_the_garment_stretched(real_data):
    images = real_data.test_images[:4]
    on_grey = np.round((255 - images) * (190 / 255)).astype(np.uint8)
    prepared = _model_input(as_rgb(on_grey, SIZE))
    assert prepared[:, 0, 0].max() == pytest.approx(0.0, abs=0.5)  # the paper is black again
    assert prepared.max() > 200  # the garment spans nearly the whole range again


def test_an_rgb_model_gets_the_pixels_as_they_are():
    rgb = np.random.default_rng(0).integers(0, 256, size=(2, 16, 20, 3), dtype=np.uint8)
    np.testing.assert_array_equal(_model_input(rgb, (16, 20, 3)), rgb.astype(np.float32))
