"""Loading a trained `.keras` model safely and running it, for evaluate, export and predict alike.

TensorFlow is imported only when a model is loaded (seconds), so `predict` with a `.tflite` file
never pays for it.
"""

import zipfile
from pathlib import Path

import numpy as np

from pipeline.core.errors import PipelineError, missing
from pipeline.core.native_logs import quiet_native_logs

PREDICT_BATCH = 1024


def load_keras_model(path: Path, written_by: str | None = "train"):
    """A `.keras` model, loaded without running any code it may carry (nor its training loss).

    A missing file is an error that names the stage it is `written_by` (None: a file the user named).
    """
    path = Path(path)
    if not path.exists():
        if written_by:
            raise missing(path, written_by)
        raise PipelineError(f"cannot read {path}: No such file or directory")
    try:
        with open(path, "rb") as file:
            is_archive = zipfile.is_zipfile(file)
    except OSError as error:
        raise PipelineError(f"cannot read {path}: {error.strerror}") from error
    if not is_archive:  # Keras would report "File not found"
        raise PipelineError(f"{path} is not a loadable Keras model: not a .keras (zip) file, truncated or corrupt")
    from pipeline.core.frameworks import keras

    try:
        with quiet_native_logs():
            return keras.models.load_model(path, compile=False, safe_mode=True)
    except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile) as error:
        raise PipelineError(f"{path} is not a loadable Keras model: {error}".splitlines()[0]) from error


def predict_logits(model, images: np.ndarray) -> np.ndarray:
    """The model's float32 logits for a batch of images, computed in batches of PREDICT_BATCH."""
    with quiet_native_logs():
        return model.predict(images.astype(np.float32), batch_size=PREDICT_BATCH, verbose=0)
