"""Classifying RGB images with MediaPipe Tasks' `ImageClassifier`, the C++ task an Android, iOS or web
app runs on an app-flavour `.tflite` file (`pipeline/on_device/app_model.py` makes it).

It takes uint8 RGB images of any size (MediaPipe resizes them to the model's input) and returns every
class's score in label order, sorted back from MediaPipe's best-first categories by their index.
MediaPipe's refusals (not a flatbuffer, not an RGB-image model such as our grey 28×28 files, float
input without normalization metadata) become one PipelineError line naming the fix. A grey or RGBA
image is refused here, before MediaPipe sees it: it answers a GRAY8 image with a size mismatch, and
the classifier is broken for every later image.

MediaPipe has no thread-count option: its CPU delegate picks its own. This module needs numpy and
mediapipe only; it keeps MediaPipe's optional TensorFlow import (for its docs decorators alone,
about 5 s) out when TensorFlow is not loaded yet (pipeline/compat/mediapipe_tensorflow_docs.py).
"""

import contextlib
import importlib.metadata
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from pipeline.compat.mediapipe_tensorflow_docs import without_tensorflow_docs
from pipeline.core.errors import PipelineError
from pipeline.core.native_logs import quiet_native_logs
from pipeline.on_device.tflite_file import read_tflite

ALL_RESULTS = -1  # ImageClassifierOptions.max_results: every category
VERSION = importlib.metadata.version("mediapipe")  # the release that measured, as reports name it
# What MediaPipe raises for a status other than OK (mediapipe_c_utils.convert_to_exception).
_MEDIAPIPE_ERRORS = (ValueError, RuntimeError, OSError, IndexError)


with without_tensorflow_docs(), quiet_native_logs():
    from mediapipe import Image, ImageFormat
    from mediapipe.tasks.python.core.base_options import BaseOptions
    from mediapipe.tasks.python.vision.image_classifier import ImageClassifier, ImageClassifierOptions

# MediaPipe's messages for files it refuses, and the fix each needs.
_REFUSALS = {
    "NormalizationOptions": "takes float pixels but has no normalization metadata: add it (app_metadata.with_metadata)",
    "not a valid Flatbuffer": "is not a TensorFlow Lite model: export it again (dvc repro)",
    "4D tensors": "takes no RGB images [1, height, width, 3]: give MediaPipe the app flavour, model_app.tflite",
}


def _refusal(source: str, error: Exception) -> PipelineError:
    """One line: which file MediaPipe refused, and why or how to fix it."""
    message = str(error)
    for clue, problem in _REFUSALS.items():
        if clue in message:
            return PipelineError(f"{source} {problem}")
    first_line = message.strip().splitlines()[0] if message.strip() else type(error).__name__
    return PipelineError(f"MediaPipe cannot use {source}: {first_line}")


def _named(model: bytes | Path, source: str | None) -> str:
    """What errors call the model: `source`, else its path, else "the model"."""
    return source or (str(model) if isinstance(model, Path | str) else "the model")


def open_classifier(model: bytes | Path, source: str | None = None) -> ImageClassifier:
    """An ImageClassifier (image mode, CPU, every category) on a file's content or path."""
    source = _named(model, source)
    if isinstance(model, Path | str):
        model = read_tflite(model, source)
    elif not model:
        raise PipelineError(f"{source} is empty, not a TensorFlow Lite model")
    options = ImageClassifierOptions(
        base_options=BaseOptions(model_asset_buffer=bytes(model), delegate=BaseOptions.Delegate.CPU),
        max_results=ALL_RESULTS,
    )
    try:
        with quiet_native_logs():  # "Created TensorFlow Lite XNNPACK delegate for CPU" and the like
            return ImageClassifier.create_from_options(options)
    except _MEDIAPIPE_ERRORS as error:
        raise _refusal(source, error) from error


def check_rgb(images: np.ndarray) -> np.ndarray:
    """`images` as a C-contiguous uint8 array (N, height, width, 3); a PipelineError naming the shape otherwise."""
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
        raise PipelineError(
            f"MediaPipe's ImageClassifier takes uint8 RGB images (N, height, width, 3), not {images.dtype} "
            f"{tuple(images.shape)}: convert them to RGB first (Pillow's `image.convert('RGB')`)"
        )
    return np.ascontiguousarray(images)


def _scores(result) -> np.ndarray:
    """One image's scores in label order (MediaPipe lists the categories best first)."""
    categories = result.classifications[0].categories
    scores = np.zeros(len(categories), np.float32)
    for category in categories:
        scores[category.index] = category.score
    return scores


def _classify_one(classifier: ImageClassifier, pixels: np.ndarray):
    return classifier.classify(Image(image_format=ImageFormat.SRGB, data=pixels))


@contextlib.contextmanager
def _running(model: bytes | Path, source: str | None) -> Iterator[ImageClassifier]:
    """An open classifier, MediaPipe's native log lines silenced meanwhile (a failed call prints a stack
    trace), its refusals as PipelineErrors, closed at the end: after a failed call its close fails too."""
    classifier = open_classifier(model, source)
    try:
        with quiet_native_logs():
            yield classifier
    except _MEDIAPIPE_ERRORS as error:
        raise _refusal(_named(model, source), error) from error
    finally:
        with contextlib.suppress(*_MEDIAPIPE_ERRORS):
            classifier.close()


def classify_timed(model: bytes | Path, images: np.ndarray, source: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Every class's score (N, classes) in label order and the seconds each image took in MediaPipe (its
    own resizing included), one image at a time as an app's camera frames arrive."""
    images = check_rgb(images)
    scores, seconds = [], np.zeros(len(images))
    with _running(model, source) as classifier:
        for index, pixels in enumerate(images):
            start = time.perf_counter()
            result = _classify_one(classifier, pixels)
            seconds[index] = time.perf_counter() - start
            scores.append(_scores(result))
    return np.stack(scores), seconds


def classify_pictures(
    model: bytes | Path, pictures: list[np.ndarray], source: str | None = None
) -> tuple[np.ndarray, list[str]]:
    """Every class's score (N, classes) in label order for pictures of any sizes (an app's photos), each
    uint8 RGB (height, width, 3), and the class names the file's label metadata gives, in label order."""
    checked = [check_rgb(np.asarray(picture)[None])[0] for picture in pictures]
    with _running(model, source) as classifier:
        results = [_classify_one(classifier, pixels) for pixels in checked]
    return np.stack([_scores(result) for result in results]), _names(results[0], _named(model, source))


def classify(model: bytes | Path, images: np.ndarray, source: str | None = None) -> np.ndarray:
    """Every class's score (N, classes) in label order, from MediaPipe's ImageClassifier."""
    return classify_timed(model, images, source)[0]


def _names(result, source: str) -> list[str]:
    """The class names in one result, in label order; a PipelineError when the file has no label metadata."""
    categories = sorted(result.classifications[0].categories, key=lambda category: category.index)
    names = [category.category_name or "" for category in categories]
    if not any(names):
        raise PipelineError(f"{source} has no label metadata: write it with app_metadata.with_metadata")
    return names


def category_names(model: bytes | Path, image: np.ndarray, source: str | None = None) -> list[str]:
    """The class names MediaPipe reads from the file's label metadata, in label order."""
    with _running(model, source) as classifier:
        result = _classify_one(classifier, check_rgb(image[None])[0])
    return _names(result, _named(model, source))
