"""Synthetic test and calibration images for the app flavour: Fashion-MNIST images as the RGB pictures an
app hands MediaPipe, block-upscaled or photo-like (dark on light paper, larger, tinted, noisy, JPEG)."""

import io

import numpy as np
from PIL import Image

from pipeline.core.errors import PipelineError
from pipeline.on_device.app_input import fashion_style

NOISE_LEVELS = 5  # photo_like's sensor noise
PAPER_LEVELS = (170, 255)  # the grey levels of the paper that int8 calibration puts garments on
PHOTO_SIZE = 320  # photo_like's side: not the input size, so MediaPipe resizes them as it does camera frames


def as_rgb(images: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Images (N, h, w) grey or (N, h, w, 3) RGB as uint8 RGB (N, *size, 3), each pixel repeated into a block:
    what the app flavour's average pool turns back into the original exactly."""
    images = np.asarray(images, np.uint8)
    rows, columns = size[0] // images.shape[1], size[1] // images.shape[2]
    if not rows or not columns or (rows * images.shape[1], columns * images.shape[2]) != tuple(size):
        raise PipelineError(
            f"RGB images of {size[0]}×{size[1]} cannot repeat each pixel of {images.shape[1]}×{images.shape[2]} "
            "images into a block: take a multiple of their size"
        )
    if images.ndim == 3:
        images = np.repeat(images[..., None], 3, axis=-1)
    return images.repeat(rows, axis=1).repeat(columns, axis=2)


def _jpeg(pixels: np.ndarray, quality: int) -> np.ndarray:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=quality)
    return np.asarray(Image.open(buffer).convert("RGB"))


def photo_like(images: np.ndarray, size: int, seed: int, quality: int = 75) -> np.ndarray:
    """Fashion-MNIST images as product photos a camera might see: dark garment on a light background,
    upscaled (bilinear) to `size`×`size`, a mild colour cast, sensor noise and JPEG compression."""
    rng = np.random.default_rng(seed)
    photos = np.empty((len(images), size, size, 3), np.uint8)
    for index, pixels in enumerate(np.asarray(images, np.uint8)):
        grey = np.asarray(Image.fromarray(255 - pixels).resize((size, size), Image.Resampling.BILINEAR))
        tint = rng.uniform(0.88, 1.0, size=3)  # off-white paper under warm or cool light
        tinted = np.round(np.arange(256)[:, None] * tint).astype(np.int16)[grey]
        # Uniform noise of ±NOISE_LEVELS grey levels: a standard deviation of 3.2, and 6× faster to draw than normal.
        tinted += rng.integers(-NOISE_LEVELS, NOISE_LEVELS + 1, size=tinted.shape, dtype=np.int16)
        photos[index] = _jpeg(np.clip(tinted, 0, 255).astype(np.uint8), quality)
    return photos


def calibration_images(images: np.ndarray, count: int, seed: int, size: tuple[int, int]) -> np.ndarray:
    """A seeded sample of training images as the app flavour's RGB input. For a Fashion-MNIST-style model
    every other one is dark on light paper of a random grey level (PAPER_LEVELS), so int8 calibration sees
    both sides of the background test and the stretch's whole range."""
    rng = np.random.default_rng(seed)
    chosen = np.sort(rng.choice(len(images), size=min(count, len(images)), replace=False))
    sample = np.asarray(images[chosen], np.uint8).copy()
    if sample.ndim == 3 and fashion_style(sample.shape[1:]):
        paper = rng.uniform(*PAPER_LEVELS, size=(len(sample[1::2]), 1, 1))
        sample[1::2] = np.round((255 - sample[1::2]) * (paper / 255)).astype(np.uint8)
    return as_rgb(sample, size)


def app_test_sets(images: np.ndarray, input_size: tuple[int, int], seed: int, photo_size: int = PHOTO_SIZE) -> dict:
    """The test images as an app would hand them to MediaPipe: `rgb`, each pixel a block at the app's input
    size; for a Fashion-MNIST-style model also `photo_like` (`photo_like`, `photo_size` pixels a side)."""
    sets = {"rgb": as_rgb(images, input_size)}
    if fashion_style(images.shape[1:]):
        sets["photo_like"] = photo_like(images, photo_size, seed)
    return sets
