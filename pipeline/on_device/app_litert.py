"""The app flavour's file run by LiteRT as MediaPipe's ImageClassifier runs it, one uint8 RGB image a call.

It goes through the file's `serving_default` signature (`image` in, `scores` out), on LiteRT's default
XNNPACK delegate. An image already at the file's input size is neither resized nor normalized by
MediaPipe (the file takes uint8 pixels), so these are MediaPipe's scores exactly
(tests/on_device/test_app_litert.py checks it, and the export stage checks it again on a sample),
several times faster (on a Xeon, 0.3-0.4 ms an image with 2 threads against MediaPipe's 1.2-1.8 ms).
The file has a fixed batch of 1, MediaPipe's input, so it runs one image a call.
"""

from collections.abc import Callable

import numpy as np

from pipeline.core.errors import PipelineError
from pipeline.core.native_logs import quiet_native_logs
from pipeline.on_device.litert import APP_INPUT_NAME, APP_OUTPUT_NAME, LITERT_ERRORS, load_signature_runner


def app_scorer(content: bytes, threads: int, source: str = "the app flavour") -> Callable[[np.ndarray], np.ndarray]:
    """A function giving every class's score (N, classes) for uint8 RGB images (N, height, width, 3) at the
    file's input size, one image a call with `threads` threads, as MediaPipe would score them."""
    _, runner = load_signature_runner(
        content, threads, source, (APP_INPUT_NAME, APP_OUTPUT_NAME), "it is not an app flavour"
    )

    def scores(images: np.ndarray) -> np.ndarray:
        images = np.ascontiguousarray(images)
        try:
            with quiet_native_logs():  # LiteRT's native warnings, if any, stay off the progress lines
                return np.concatenate([runner(**{APP_INPUT_NAME: image[None]})[APP_OUTPUT_NAME] for image in images])
        except LITERT_ERRORS as error:
            raise PipelineError(f"{source} failed to run: {error}".splitlines()[0]) from error

    return scores
