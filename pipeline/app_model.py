"""The app flavour, `model_app.tflite`: a trained model as a file MediaPipe Tasks' `ImageClassifier` takes.

An app classifies camera frames with MediaPipe's ImageClassifier (Android, iOS, web and Python run
the same C++ task). It wants `uint8[1, height, width, 3]` RGB in, one score per class out, and
metadata naming the classes and the input's normalization; our other files take grey
`[batch, 28, 28]` images, which it refuses. So the app flavour does in its graph what made
Fashion-MNIST's images, as far as a graph can (`pipeline/images.py` does it all in Python):

    uint8 RGB [1, 224, 224, 3] -> float -> 8×8 average pool to 28×28 (an exact area resize)
    -> grey (ITU-R 601: 0.299 R + 0.587 G + 0.114 B, as Pillow's convert("L"))
    -> inverted when more than half of the border pixels are light (>= 128): a dark garment on a light
       background becomes Fashion-MNIST's light garment on black
    -> the background (the darkest border pixel) made black and the rest stretched to 0-255, so a photo
       on off-white or grey paper looks like one on white
    -> the model (raw 0-255 pixels; its rescaling is inside) -> softmax scores, float32 [1, classes]

224×224 is MediaPipe's usual classifier input and 8 × 28, so the area resize is an exact block
average. MediaPipe itself resizes any frame to it first (bilinear). What the graph does not do is
trim the background margin and centre the garment, longest side filling the frame: a photo whose
garment does not fill the frame loses much accuracy (a garment of 60% of the frame's side, placed
anywhere: 27% where images.prepare_image gets 92%, cnn_dropout). The light-background test, the
inversion and the stretch are arithmetic (clip, multiply, add, a series for the gain), not a select
or a division: the int8 file aborted in LiteRT on SELECT_V2 and on DIV. A model trained on a folder of images of another
size, or on RGB, takes RGB at its own size: grey conversion only if it was trained on grey
images, and no inversion (that is Fashion-MNIST's convention alone, as in images.prepare_for).

Two files are made: float32 and full-integer int8 (the uint8 pixels taken as they are and cast
inside, so none is lost; float32 scores), the int8 one calibrated on training images half of
them inverted, so both branches of the background test are seen. `choose_flavour` keeps int8 when
its accuracy drop stays within a bound, measured by MediaPipe itself (`measure_app`).

Metadata: MediaPipe's `metadata_writers.image_classifier.MetadataWriter` (labels, normalization
mean 0 and std 1: raw pixels). mediapipe 1.2.2's wheels lack the compiled module the metadata
populator asks for the minimum metadata-parser version
(`mediapipe.tasks.cc.metadata.python._pywrap_metadata_version.GetMinimumMetadataParserVersion`);
only when it is missing, a stand-in returning "1.0.0" is put in place while the writer is imported.
1.0.0 is what that function returns for an image classifier's metadata (input normalization,
image properties, a TENSOR_AXIS_LABELS file), as tflite-support 0.4.4 computes it: the later
versions are for fields (vocabulary files, tensor groups, tokenizers, audio, custom metadata) this
writer does not write here. tflite-support's own writer is no option: unmaintained, no Python 3.12
or 3.13 wheels, protobuf < 4.
"""

import contextlib
import importlib.util
import io
import json
import sys
import tempfile
import types
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image

from pipeline import litert
from pipeline.errors import PipelineError
from pipeline.frameworks import keras, tf
from pipeline.images import FASHION_MNIST_INPUT_SHAPES
from pipeline.mediapipe_client import classify_timed
from pipeline.metrics import accuracy, top1_agreement
from pipeline.native_logs import quiet_native_logs

DEFAULT_INPUT_SIZE = 224  # MediaPipe's usual classifier input, and 8 × 28
SIGNATURE, INPUT_NAME, OUTPUT_NAME = litert.SIGNATURE, litert.APP_INPUT_NAME, litert.APP_OUTPUT_NAME
GREY_WEIGHTS = (0.299, 0.587, 0.114)
WHITE = 255.0
LIGHT_LEVEL = 128.0  # a border pixel at least this bright counts as light background
MIN_PARSER_VERSION = "1.0.0"
NOISE_LEVELS = 5  # photo_like's sensor noise
PAPER_LEVELS = (170, 255)  # the grey levels of the paper that int8 calibration puts garments on
LATENCY_WARMUP = 10  # first calls of a new classifier, left out of the latency
PHOTO_SIZE = 320  # photo_like's side: not the input size, so MediaPipe resizes them as it does camera frames
MEASURE_CHUNK = 500  # test images made into RGB at once while measuring (about 230 MB)
_VERSION_PACKAGE = "mediapipe.tasks.cc.metadata.python"
_VERSION_MODULE = f"{_VERSION_PACKAGE}._pywrap_metadata_version"


def fashion_style(input_shape: tuple[int, ...]) -> bool:
    """Whether a model of `input_shape` gets Fashion-MNIST's preparation (grey, light on dark, 28×28)."""
    return tuple(input_shape) in FASHION_MNIST_INPUT_SHAPES


def app_input_size(input_shape: tuple[int, ...], size: int = DEFAULT_INPUT_SIZE) -> tuple[int, int]:
    """The app flavour's input height and width: `size`×`size` for a 28×28 grey model (a multiple of 28,
    for an exact block-average resize), else the model's own."""
    if not fashion_style(input_shape):
        return int(input_shape[0]), int(input_shape[1])
    if size < input_shape[0] or size % input_shape[0]:
        raise PipelineError(f"the app flavour's input size must be a multiple of {input_shape[0]}, not {size}")
    return size, size


def _border(grey: tf.Tensor) -> tf.Tensor:
    """The outermost pixels of grey images [1, h, w], once each: [1, 2h + 2w - 4]."""
    return tf.concat([grey[:, 0, :], grey[:, -1, :], grey[:, 1:-1, 0], grey[:, 1:-1, -1]], axis=1)


def _stretch_background(grey: tf.Tensor) -> tf.Tensor:
    """Light-on-dark grey images [1, h, w] with their background made black and the rest stretched to
    0-255, as images.py does for a photo on off-white or grey paper. The background is the darkest border
    pixel (after the average pool, so noise has mostly gone; the garment, light, does not pull it up).

    The gain 1 / (1 - r), r = background / 255, is its series 1 + r + r² + r³ (within 1.2% up to r = 0.3,
    a background of 178 before the inversion): the int8 file aborted in LiteRT on a DIV."""
    background = tf.reshape(tf.reduce_min(_border(grey), axis=1), [-1, 1, 1])
    share = background / WHITE
    return tf.nn.relu(grey - background) * (1 + share * (1 + share * (1 + share)))


def _light_background(grey: tf.Tensor) -> tf.Tensor:
    """1.0 when more than half of the border pixels of grey images [1, h, w] are light, else 0.0, as
    arithmetic: a step of one grey level per pixel, then two clips for the majority.

    In the int8 file a clip's bounds are quantized with its input's scale, so the last clip's input spans
    [-4, 4] only: its bound 1 is then exact to 1/64 (a steep clip of the count, spanning hundreds, put
    the "light" at 0.86 and a white background at grey level 37 instead of 0)."""
    border = _border(grey)
    light_pixels = tf.reduce_sum(tf.clip_by_value(border - (LIGHT_LEVEL - 1), 0.0, 1.0), axis=1)
    # At least ±0.5: the count is a whole number and the middle is between two.
    majority = tf.clip_by_value(light_pixels - (border.shape[1] + 1) / 2, -1.0, 1.0)
    return tf.reshape(tf.clip_by_value(majority * 4, 0.0, 1.0), [-1, 1, 1])


def to_model_input(image: tf.Tensor, input_shape: tuple[int, ...]) -> tf.Tensor:
    """uint8 RGB images [1, H, W, 3] as the model's raw 0-255 input of `input_shape`, as the graph does it."""
    pixels = tf.cast(image, tf.float32)
    factor = (image.shape[1] // input_shape[0], image.shape[2] // input_shape[1])
    if factor != (1, 1):
        pixels = tf.nn.avg_pool2d(pixels, ksize=factor, strides=factor, padding="VALID")
    if input_shape[2:] == (3,):
        return pixels
    grey = tf.reduce_sum(pixels * tf.constant(GREY_WEIGHTS), axis=-1)
    if fashion_style(input_shape):
        grey = _stretch_background(grey + _light_background(grey) * (WHITE - 2 * grey))
    return tf.reshape(grey, [-1, *input_shape])


def _write_saved_model(model: keras.Model, input_size: int, directory: Path) -> None:
    """A SavedModel whose `serving_default` maps `image` (uint8 [1, H, W, 3]) to `scores` (softmax)."""
    input_shape = tuple(model.input_shape[1:])
    height, width = app_input_size(input_shape, input_size)
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(
        name=SIGNATURE,
        fn=lambda image: {OUTPUT_NAME: tf.nn.softmax(model(to_model_input(image, input_shape), training=False))},
        input_signature=[tf.TensorSpec([1, height, width, 3], tf.uint8, name=INPUT_NAME)],
    )
    archive.write_out(str(directory), verbose=False)


def _convert(model: keras.Model, input_size: int, calibration: np.ndarray | None) -> bytes:
    """The app flavour as a flatbuffer of builtin ops only: float32, or int8 calibrated on `calibration`."""
    with tempfile.TemporaryDirectory() as directory:
        _write_saved_model(model, input_size, Path(directory))
        converter = tf.lite.TFLiteConverter.from_saved_model(directory, signature_keys=[SIGNATURE])
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        if calibration is not None:
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
            converter.representative_dataset = lambda: ({INPUT_NAME: image[None]} for image in calibration)
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            converter.inference_input_type = tf.uint8
            converter.inference_output_type = tf.float32
        # The converter prints to stdout and warns about its own use of tf.lite.Interpreter.
        with contextlib.redirect_stdout(io.StringIO()), quiet_native_logs(), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*tf.lite.Interpreter is deprecated", category=UserWarning)
            return converter.convert()


def build_app_model(model: keras.Model, input_size: int = DEFAULT_INPUT_SIZE) -> bytes:
    """The float32 app flavour of `model`, without metadata."""
    return _convert(model, input_size, calibration=None)


def quantize_app_model(model: keras.Model, calibration: np.ndarray, input_size: int = DEFAULT_INPUT_SIZE) -> bytes:
    """The full-integer int8 app flavour of `model` (uint8 input, float32 scores), without metadata,
    its activations calibrated on `calibration`: uint8 RGB images at the app's input size."""
    return _convert(model, input_size, calibration=np.asarray(calibration, np.uint8))


def _has_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:  # a parent package is missing
        return False


@contextlib.contextmanager
def _metadata_version_stand_in() -> Iterator[None]:
    """While the metadata writer is imported, a stand-in for the compiled module mediapipe 1.2.2's wheels
    lack (see the module docstring), when it is missing."""
    if _has_module(_VERSION_MODULE):
        yield
        return
    version = types.ModuleType(_VERSION_MODULE)
    version.GetMinimumMetadataParserVersion = lambda metadata_buffer: MIN_PARSER_VERSION
    package = types.ModuleType(_VERSION_PACKAGE)
    package._pywrap_metadata_version = version
    sys.modules |= {_VERSION_PACKAGE: package, _VERSION_MODULE: version}
    try:
        yield
    finally:
        for name in (_VERSION_MODULE, _VERSION_PACKAGE):
            sys.modules.pop(name, None)


def _metadata_modules() -> types.SimpleNamespace:
    """MediaPipe's metadata module and writers, imported with the stand-in where it is needed."""
    with _metadata_version_stand_in(), quiet_native_logs():
        from mediapipe.tasks.python.metadata import metadata
        from mediapipe.tasks.python.metadata.metadata_writers import image_classifier, metadata_writer
    return types.SimpleNamespace(metadata=metadata, image_classifier=image_classifier, writer=metadata_writer)


def with_metadata(content: bytes, class_names: tuple[str, ...]) -> bytes:
    """The file with MediaPipe's image-classifier metadata: the class names (as `labels.txt`) in output
    order and normalization mean 0, std 1 (the graph takes raw pixels)."""
    modules = _metadata_modules()
    image_classifier, metadata_writer = modules.image_classifier, modules.writer
    labels = metadata_writer.Labels().add(list(class_names))
    try:
        writer = image_classifier.MetadataWriter.create(bytearray(content), [0.0], [1.0], labels)
        return bytes(writer.populate()[0])
    except ValueError as error:
        raise PipelineError(f"cannot write the app flavour's metadata: {error}".splitlines()[0]) from error


def read_metadata(content: bytes) -> dict:
    """The file's metadata as MediaPipe reads it, `{"metadata": <its JSON>, "labels": [class names]}`, or a
    PipelineError when it has none."""
    metadata = _metadata_modules().metadata
    try:
        displayer = metadata.MetadataDisplayer.with_model_buffer(bytearray(content))
    except ValueError as error:
        raise PipelineError(f"the file has no MediaPipe metadata: {error}".splitlines()[0]) from error
    labels = [
        displayer.get_associated_file_buffer(name).decode().splitlines()
        for name in displayer.get_packed_associated_file_list()
    ]
    return {"metadata": json.loads(displayer.get_metadata_json()), "labels": labels[0] if labels else []}


def as_rgb(images: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Images (N, h, w) grey or (N, h, w, 3) RGB as uint8 RGB (N, *size, 3), each pixel repeated into a block:
    what the app flavour's average pool turns back into the original exactly."""
    images = np.asarray(images, np.uint8)
    rows, columns = size[0] // images.shape[1], size[1] // images.shape[2]
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


def choose_flavour(float32_accuracy: dict[str, float], int8_accuracy: dict[str, float], max_drop: float) -> tuple:
    """("int8" or "float32", why): int8 when its accuracy drop against the float32 app flavour on every test
    set is at most `max_drop`."""
    drops = {name: float32_accuracy[name] - int8_accuracy[name] for name in float32_accuracy}
    worst = max(drops, key=drops.get)
    verdict = "within" if drops[worst] <= max_drop else "more than"
    reason = f"int8's largest accuracy drop against float32 is {drops[worst]:.4f} ({worst}): {verdict} {max_drop}"
    return ("int8" if verdict == "within" else "float32"), reason


def app_test_sets(images: np.ndarray, input_size: tuple[int, int], seed: int, photo_size: int = PHOTO_SIZE) -> dict:
    """The test images as an app would hand them to MediaPipe: `rgb`, each pixel a block at the app's input
    size; for a Fashion-MNIST-style model also `photo_like` (`photo_like`, `photo_size` pixels a side)."""
    sets = {"rgb": as_rgb(images, input_size)}
    if fashion_style(images.shape[1:]):
        sets["photo_like"] = photo_like(images, photo_size, seed)
    return sets


def _summary(scores: np.ndarray, seconds: np.ndarray, warm: np.ndarray, labels, keras_logits) -> dict:
    """Accuracy, top-1 agreement with Keras on the original images, per-image latency of the `warm` calls
    (after each classifier's first ones), and the seconds the whole set took."""
    return {
        "accuracy": round(accuracy(scores, labels), 6),
        "top1_agreement": round(top1_agreement(scores, keras_logits), 6),
        "latency_ms_median": round(float(np.median(seconds[warm])) * 1000, 4),
        "latency_ms_p95": round(float(np.percentile(seconds[warm], 95)) * 1000, 4),
        "seconds": round(float(seconds.sum()), 3),
    }


def _run_sets(contents: dict[str, bytes], images: np.ndarray, settings: dict, chunk: int) -> dict:
    """Scores and per-image seconds of every file on every test set, made `chunk` images at a time (10,000
    images at 224×224 RGB would take 1.5 GB at once), and which calls came after the classifier's warm-up."""
    runs = {}
    for start in range(0, len(images), chunk):
        sets = app_test_sets(images[start : start + chunk], seed=settings["seed"] + start, **settings["sizes"])
        for flavour, content in contents.items():
            for name, set_images in sets.items():
                result, took = classify_timed(content, set_images, source=f"the {flavour} app flavour")
                warm = np.arange(len(took)) >= min(LATENCY_WARMUP, len(took) // 2)
                runs.setdefault((flavour, name), []).append((result, took, warm))
    return {key: [np.concatenate(parts) for parts in zip(*chunks)] for key, chunks in runs.items()}


def measure_app(
    contents: dict[str, bytes],
    test: tuple[np.ndarray, np.ndarray],
    keras_logits: np.ndarray,
    max_int8_drop: float,
    seed: int,
    input_size: int = DEFAULT_INPUT_SIZE,
    photo_size: int = PHOTO_SIZE,
    chunk: int = MEASURE_CHUNK,
) -> dict:
    """Every app-flavour file (`contents`: flavour -> bytes with metadata) run by MediaPipe on the test images
    (`test`: images as the model takes them, labels) made into each of `app_test_sets` (`input_size` as
    for `build_app_model`), and the flavour `choose_flavour` picks, with its reason."""
    images, labels = test
    sizes = {"input_size": app_input_size(images.shape[1:], input_size), "photo_size": photo_size}
    settings = {"seed": seed, "sizes": sizes}
    report = {flavour: {"size_bytes": len(content)} for flavour, content in contents.items()}
    for (flavour, name), run in _run_sets(contents, images, settings, chunk).items():
        report[flavour][name] = _summary(*run, labels, keras_logits)
    names = [name for name in report["float32"] if name != "size_bytes"]
    accuracies = {flavour: {name: report[flavour][name]["accuracy"] for name in names} for flavour in contents}
    flavour, reason = choose_flavour(accuracies["float32"], accuracies["int8"], max_int8_drop)
    return {"flavour": flavour, "reason": reason, "max_int8_accuracy_drop": max_int8_drop, **report}
