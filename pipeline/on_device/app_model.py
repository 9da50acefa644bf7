"""The app flavour, `model_app.tflite`: a trained model as a flatbuffer MediaPipe Tasks' `ImageClassifier`
takes, uint8 RGB image in, softmax scores out, float32 or full-integer int8.

An app classifies camera frames with MediaPipe's ImageClassifier (Android, iOS, web and Python run
the same C++ task). It wants `uint8[1, height, width, 3]` RGB in, one score per class out, and
metadata naming the classes and the input's normalization (app_metadata); our other files take grey
`[batch, 28, 28]` images, which it refuses. So the app flavour's one signature takes `image`, makes it
the model's input in its graph (app_input.to_model_input), and returns `scores`, the model's softmax,
float32 [1, classes].

Two builds are made: float32 and full-integer int8 (the uint8 pixels taken as they are and cast inside,
so none is lost; float32 scores), the int8 one calibrated on training images half of them inverted
(photo_like.calibration_images), so both branches of the background test are seen.
app_measurement.choose_flavour keeps int8 when its accuracy drop, measured by MediaPipe itself, stays
within a bound.
"""

import numpy as np

from pipeline.core.frameworks import keras, tf
from pipeline.on_device import conversion, litert
from pipeline.on_device.app_input import DEFAULT_INPUT_SIZE, app_input_size, to_model_input

SIGNATURE, INPUT_NAME, OUTPUT_NAME = litert.SIGNATURE, litert.APP_INPUT_NAME, litert.APP_OUTPUT_NAME
# The int8 build takes the uint8 pixels as they are and returns float32 scores.
APP_INT8_TYPES = conversion.Int8Types(input=tf.uint8, output=tf.float32)


def image_to_scores(model: keras.Model, input_size: int = DEFAULT_INPUT_SIZE) -> conversion.Signature:
    """The app flavour's signature: `image` (uint8 [1, H, W, 3]) to `scores` (the model's softmax)."""
    input_shape = tuple(model.input_shape[1:])
    height, width = app_input_size(input_shape, input_size)
    return conversion.Signature(
        function=lambda image: {OUTPUT_NAME: tf.nn.softmax(model(to_model_input(image, input_shape), training=False))},
        spec=tf.TensorSpec([1, height, width, 3], tf.uint8, name=INPUT_NAME),
    )


def build_app_model(model: keras.Model, input_size: int = DEFAULT_INPUT_SIZE) -> bytes:
    """The float32 app flavour of `model`, without metadata."""
    return conversion.convert(model, image_to_scores(model, input_size), ("float32",))["float32"]


def quantize_app_model(model: keras.Model, calibration: np.ndarray, input_size: int = DEFAULT_INPUT_SIZE) -> bytes:
    """The full-integer int8 app flavour of `model` (uint8 input, float32 scores), without metadata,
    its activations calibrated on `calibration`: uint8 RGB images at the app's input size."""
    signature = image_to_scores(model, input_size)
    calibration = np.asarray(calibration, np.uint8)
    return conversion.convert(model, signature, ("int8",), calibration, APP_INT8_TYPES)["int8"]
