"""From a picture to a model's input: real Fashion-MNIST test images saved as PNG and as photo-like
JPEGs (dark garment on white, upscaled, off-center), and pictures for models of other shapes."""

import io

import numpy as np
import pytest
from conftest import photo_like, png_image
from PIL import Image

from pipeline.core.errors import PipelineError
from pipeline.data.photos import open_image, prepare_for, prepare_image


def test_a_fashion_mnist_image_saved_as_png_comes_back_nearly_unchanged(real_data):
    originals = real_data.test_images
    prepared = np.stack([prepare_image(png_image(pixels)) for pixels in originals])
    assert prepared.shape == originals.shape and prepared.dtype == np.float32
    difference = np.abs(prepared - originals).reshape(len(originals), -1)
    # Only images with faint (< 5%) pixels at an edge change: those are trimmed and rescaled a little.
    assert (difference.max(axis=1) == 0).mean() >= 0.8
    assert difference.mean() < 3


def test_a_product_photo_becomes_a_light_garment_centered_on_black(real_data):
    correlations = []
    for pixels in real_data.test_images[:50]:
        prepared = prepare_image(photo_like(pixels))
        assert prepared.shape == (28, 28) and prepared.min() >= 0 and prepared.max() <= 255
        correlations.append(np.corrcoef(prepared.ravel(), pixels.ravel())[0, 1])
    # Inverted, the white margin trimmed, scaled back to 28 and centered: close to the original, if a little
    # blurred by the up- and downscaling (thin sandal straps most).
    assert np.mean(correlations) > 0.9 and min(correlations) > 0.75


@pytest.mark.parametrize(
    "garment_size, photo_size, background, noise",
    [(400, (620, 540), 240, 4), (400, (620, 540), 190, 8), (1400, (3000, 2200), 200, 6)],
    ids=["off-white", "grey and noisier", "phone-sized"],
)
def test_a_noisy_background_is_handled_like_white(real_data, garment_size, photo_size, background, noise):
    pixels = real_data.test_images[0]
    garment = np.asarray(Image.fromarray(pixels).resize((garment_size,) * 2, Image.Resampling.BICUBIC), np.float32)
    photo = np.full(photo_size, float(background))
    top, left = photo_size[0] // 10, photo_size[1] // 4
    photo[top : top + garment_size, left : left + garment_size] -= garment * background / 255
    photo += np.random.default_rng(0).normal(0, noise, photo.shape)  # sensor noise
    buffer = io.BytesIO()
    Image.fromarray(np.clip(photo, 0, 255).astype(np.uint8)).save(buffer, "JPEG", quality=85)
    prepared = prepare_image(Image.open(buffer))
    assert np.corrcoef(prepared.ravel(), pixels.ravel())[0, 1] > 0.9


def test_transparent_parts_count_as_white_background(real_data):
    pixels = real_data.test_images[1]
    dark_garment = np.zeros((28, 28, 4), np.uint8)  # black everywhere, opaque only where the garment is
    dark_garment[..., 3] = pixels
    prepared = prepare_image(Image.fromarray(dark_garment, "RGBA"))
    np.testing.assert_allclose(prepared, prepare_image(png_image(pixels)), atol=1)


def test_a_blank_picture_gives_a_black_canvas():
    np.testing.assert_array_equal(prepare_image(Image.new("RGB", (40, 30), "white")), np.zeros((28, 28)))


def test_a_picture_for_an_rgb_model_is_resized_in_colour():
    picture = Image.new("RGBA", (90, 60), (0, 0, 0, 0))
    picture.paste((255, 0, 0, 255), (0, 0, 45, 60))  # left half red, right half transparent
    pixels = prepare_for(picture, (16, 20, 3))
    assert pixels.shape == (16, 20, 3) and pixels.dtype == np.float32
    np.testing.assert_allclose(pixels[:, 0], [[255, 0, 0]] * 16)
    np.testing.assert_allclose(pixels[:, -1], [[255, 255, 255]] * 16)  # transparent parts are white
    assert prepare_for(picture, (16, 20)).shape == (16, 20)


def test_a_file_that_is_not_an_image_is_named(tmp_path):
    notes = tmp_path / "notes.png"
    notes.write_text("not a picture\n")
    with pytest.raises(PipelineError, match=r"notes.png is not an image \(Pillow cannot identify it\)"):
        open_image(notes)
    with pytest.raises(PipelineError, match=r"cannot read .*missing.jpg: No such file or directory"):
        open_image(tmp_path / "missing.jpg")
