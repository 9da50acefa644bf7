"""The export stage's `.tflite` flavours of a trained model: raw pixels in, logits out, int8 calibrated on
training images.

Flavours (paths.TFLITE_FLAVOURS): float32; dynamic-range (int8 weights, float activations); float16
weights; full-integer int8 (int8 weights and activations, int8 input and output, activations calibrated
on training images). Every file has a `serving_default` signature taking `pixels` (the dataset's image
shape, any batch) and returning `logits`, so `Interpreter.get_signature_runner()` works.
"""

import numpy as np

from pipeline.core.frameworks import keras, tf
from pipeline.core.paths import TFLITE_FLAVOURS
from pipeline.on_device import conversion, litert


def pixels_to_logits(model: keras.Model) -> conversion.Signature:
    """The signature of every flavour: `pixels` (any batch of the model's input shape) to `logits`."""
    return conversion.Signature(
        function=lambda pixels: {litert.OUTPUT_NAME: model(pixels, training=False)},
        spec=tf.TensorSpec([None, *model.input_shape[1:]], tf.float32, name=litert.INPUT_NAME),
    )


def convert(model: keras.Model, representative: np.ndarray) -> dict[str, bytes]:
    """Every flavour of `model` as a TensorFlow Lite flatbuffer, int8 calibrated on `representative` images."""
    return conversion.convert(model, pixels_to_logits(model), TFLITE_FLAVOURS, representative.astype(np.float32))


def representative_images(images: np.ndarray, count: int, seed: int) -> np.ndarray:
    """A seeded random sample of training images to calibrate int8 activations on."""
    chosen = np.random.default_rng(seed).choice(len(images), size=min(count, len(images)), replace=False)
    return images[np.sort(chosen)]
