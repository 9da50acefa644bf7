"""Synthetic RGB pictures for the app flavour: block-upscaled, photo-like and calibration images."""

import numpy as np
import pytest

from pipeline.core.errors import PipelineError
from pipeline.on_device import photo_like


def test_photo_like_images_are_dark_on_light_jpeg_like_rgb_and_seeded(real_data):
    images = real_data.test_images[:5]
    photos = photo_like.photo_like(images, size=100, seed=1)
    assert photos.shape == (5, 100, 100, 3) and photos.dtype == np.uint8
    assert photos[:, :3, :3].mean() > 200  # a light background...
    assert not np.array_equal(photos[..., 0], photos[..., 2])  # ...with a colour cast
    np.testing.assert_array_equal(photos, photo_like.photo_like(images, size=100, seed=1))


def test_as_rgb_repeats_each_pixel_into_a_block_in_three_channels(real_data):
    images = real_data.test_images[:2]
    rgb = photo_like.as_rgb(images, (56, 84))
    assert rgb.shape == (2, 56, 84, 3)
    np.testing.assert_array_equal(rgb[:, ::2, ::3, 1], images)
    np.testing.assert_array_equal(rgb[:, 1::2, 2::3, 0], images)


@pytest.mark.parametrize("size", [(50, 56), (14, 28)])
def test_as_rgb_refuses_a_size_that_is_not_a_multiple_of_the_images(real_data, size):
    with pytest.raises(PipelineError, match=rf"RGB images of {size[0]}×{size[1]} .* take a multiple of their size"):
        photo_like.as_rgb(real_data.test_images[:2], size)


def test_calibration_images_are_half_dark_on_grey_or_white_paper_for_a_fashion_mnist_model(real_data):
    sample = photo_like.calibration_images(real_data.train_images, count=40, seed=0, size=(28, 28))
    assert sample.shape == (40, 28, 28, 3)
    corners = sample[:, 0, 0, 0].astype(int)
    assert (corners[::2] < 50).all()
    low, high = photo_like.PAPER_LEVELS
    assert (corners[1::2] >= low - 1).all() and (corners[1::2] <= high).all()
    assert corners[1::2].max() - corners[1::2].min() > 40  # papers of many greys


def test_the_test_sets_of_a_fashion_mnist_model_include_photo_like_ones(real_data):
    images = real_data.test_images[:3]
    sets = photo_like.app_test_sets(images, (56, 56), seed=0, photo_size=60)
    assert {name: part.shape for name, part in sets.items()} == {"rgb": (3, 56, 56, 3), "photo_like": (3, 60, 60, 3)}


def test_an_rgb_model_is_tested_on_its_own_images_alone():
    images = np.random.default_rng(0).integers(0, 256, size=(3, 16, 20, 3), dtype=np.uint8)
    sets = photo_like.app_test_sets(images, (16, 20), seed=0)
    assert list(sets) == ["rgb"]
    np.testing.assert_array_equal(sets["rgb"], images)
