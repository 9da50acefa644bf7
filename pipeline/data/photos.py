"""Any picture as a model's input, made as the training images were (numpy and Pillow only).

For a model of 28×28 grey images (Fashion-MNIST, MNIST), the way Fashion-MNIST's images were made from
product photos: grayscale, light garment on black, background margin trimmed, longest side scaled
to 28 pixels and centered on a 28×28 canvas. For any other input shape (a folder of your own
images), converted to the model's channels (L or RGB) and resized to its height×width.
"""

from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter, ImageOps

from pipeline.core.errors import PipelineError
from pipeline.data.dataset_info import IMAGE_SHAPE

WHITE = 255.0
# Grey levels by which a pixel must differ from the background to count as garment when trimming:
# Fashion-MNIST trimmed edges within 5% of the maximum intensity of the corner colour.
TRIM_TOLERANCE = 0.05 * WHITE
# A background is uniform when at least this share of the border is within TRIM_TOLERANCE of its median.
UNIFORM_SHARE = 0.5
NOISE_SIGMAS = 4  # on a noisy background, garment is this many standard deviations above it
MAD_TO_SIGMA = 1.4826  # the standard deviation of normal noise over its median absolute deviation
WORKING_SIZE = 1024
# Models of 28×28 grey images get Fashion-MNIST's preparation; others are resized to their input.
FASHION_MNIST_INPUT_SHAPES = (IMAGE_SHAPE, (*IMAGE_SHAPE, 1))


def _upright_on_white(image: Image.Image) -> Image.Image:
    """The picture upright as the camera held it, transparent parts on white, 16-bit grey levels scaled to 0-255."""
    image = ImageOps.exif_transpose(image)
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        image = Image.alpha_composite(Image.new("RGBA", image.size, "white"), image.convert("RGBA"))
    if image.mode.startswith("I") and np.asarray(image).max() > WHITE:  # 16-bit grey levels
        image = Image.fromarray(np.asarray(image, np.float32) * np.float32(WHITE / 65535))
    return image


def _grayscale(image: Image.Image) -> np.ndarray:
    """Grey levels 0-255 as float32, upright, transparent parts on white, at most WORKING_SIZE pixels
    on a side (a phone photo's megapixels only slow the trimming down)."""
    image = _upright_on_white(image).convert("L")
    if max(image.size) > WORKING_SIZE:
        image = ImageOps.contain(image, (WORKING_SIZE, WORKING_SIZE), Image.Resampling.LANCZOS)
    return np.asarray(image, np.float32)


def _border(pixels: np.ndarray) -> np.ndarray:
    """The outermost pixels, once each."""
    return np.concatenate([pixels[0], pixels[-1], pixels[1:-1, 0], pixels[1:-1, -1]])


def _light_on_dark(pixels: np.ndarray) -> tuple[np.ndarray, float]:
    """Fashion-MNIST's look, light garment on black, and the background's noise in the result's grey levels.

    A light background (a product photo on white) is inverted. A uniform background then becomes
    black, so a photo on off-white or grey looks like one on white; its noise is the robust standard
    deviation of the border. A border that is mostly garment (it fills the frame) says nothing about
    the background: the levels are kept and the noise is 0.
    """
    border = _border(pixels)
    background = float(np.median(border))
    if background > WHITE / 2:
        pixels, border, background = WHITE - pixels, WHITE - border, WHITE - background
    deviation = np.abs(border - background)
    if np.mean(deviation <= TRIM_TOLERANCE) < UNIFORM_SHARE:
        return pixels, 0.0
    gain = WHITE / (WHITE - background)
    return np.clip((pixels - background) * gain, 0, WHITE), MAD_TO_SIGMA * float(np.median(deviation)) * gain


def _trim(pixels: np.ndarray, noise: float = 0.0) -> np.ndarray:
    """The smallest box holding all of the garment, on a black background; empty if there is none.

    Garment is what is brighter than TRIM_TOLERANCE or, on a noisy background, than NOISE_SIGMAS
    times the `noise`; there, lone specks (gone after a 3×3 median filter) do not count either.
    """
    tolerance = max(TRIM_TOLERANCE, NOISE_SIGMAS * noise)
    if noise > 0:
        pixels_seen = np.asarray(Image.fromarray(pixels.astype(np.float32)).filter(ImageFilter.MedianFilter(3)))
    else:
        pixels_seen = pixels
    rows, columns = np.nonzero(pixels_seen > tolerance)
    if len(rows) == 0:
        return pixels[:0, :0]
    return pixels[rows.min() : rows.max() + 1, columns.min() : columns.max() + 1]


def _fit(pixels: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """`pixels` scaled (Lanczos) so the longest side fills `shape`, centered on black."""
    canvas = np.zeros(shape, np.float32)
    if pixels.size == 0:
        return canvas
    scale = min(shape[0] / pixels.shape[0], shape[1] / pixels.shape[1])
    height, width = (max(1, round(side * scale)) for side in pixels.shape)
    if (height, width) != pixels.shape:
        resized = Image.fromarray(pixels.astype(np.float32)).resize((width, height), Image.Resampling.LANCZOS)
        pixels = np.clip(np.asarray(resized), 0, WHITE)
    # Fashion-MNIST puts an odd spare row or column above or left of the garment.
    top, left = (shape[0] - height + 1) // 2, (shape[1] - width + 1) // 2
    canvas[top : top + height, left : left + width] = pixels
    return canvas


def prepare_image(image: Image.Image) -> np.ndarray:
    """Any picture as the input of a model of 28×28 grey images (Fashion-MNIST, MNIST), made as
    Fashion-MNIST's images were: float32 pixels 0-255, shape (28, 28), light garment on black, its
    longest side filling the canvas, centered."""
    pixels, noise = _light_on_dark(_grayscale(image))
    return _fit(_trim(pixels, noise), IMAGE_SHAPE)


def resize_image(image: Image.Image, input_shape: tuple[int, ...]) -> np.ndarray:
    """Any picture as the input of a model trained on a folder of images: float32 pixels 0-255 of
    `input_shape` ((height, width) grey or (height, width, 3) RGB), upright, transparent parts on
    white, resized (bilinear, aspect ratio not kept) as Keras resized the training images."""
    height, width, *channels = input_shape
    image = _upright_on_white(image)
    if image.mode == "F" or image.mode.startswith("I"):
        image = image.convert("L")
    image = image.convert("RGB" if channels == [3] else "L").resize((width, height), Image.Resampling.BILINEAR)
    return np.asarray(image, np.float32).reshape(input_shape)


def prepare_for(image: Image.Image, input_shape: tuple[int, ...]) -> np.ndarray:
    """The picture as the input of a model taking `input_shape`: Fashion-MNIST's preparation for 28×28
    grey images, else resized to the model's height×width in its channels."""
    if tuple(input_shape) in FASHION_MNIST_INPUT_SHAPES:
        return prepare_image(image)
    return resize_image(image, tuple(input_shape))


def app_pixels(image: Image.Image) -> np.ndarray:
    """The picture as an app hands it to MediaPipe: uint8 RGB (height, width, 3), upright, transparent
    parts on white. The app flavour's graph does the rest (pipeline/on_device/app_input.py)."""
    image = _upright_on_white(image)
    if image.mode in ("F", "I", "I;16"):  # grey levels of more than 8 bits, scaled to 0-255 above
        image = image.convert("L")
    return np.asarray(image.convert("RGB"), np.uint8)


def open_image(path: Path) -> Image.Image:
    """One image file, decoded; a PipelineError naming the file if it is not a readable image."""
    try:
        with Image.open(path) as image:
            image.load()
            return image
    except Image.UnidentifiedImageError as error:
        raise PipelineError(f"{path} is not an image (Pillow cannot identify it)") from error
    except OSError as error:
        if error.strerror:  # missing, a directory, no permission
            raise PipelineError(f"cannot read {path}: {error.strerror}") from error
        raise PipelineError(f"{path} is not a readable image: {error}") from error
    except (SyntaxError, ValueError, Image.DecompressionBombError) as error:
        raise PipelineError(f"{path} is not a readable image: {error}") from error
