"""A trained Keras model as an MLflow model: `mlflow.keras.log_model` with a signature, an input
example of real images and pinned requirements, so `mlflow.pyfunc.load_model` and `mlflow models
serve` run it.

The signature is what the model takes and gives: raw 0-255 pixels (uint8, the dataset's image
shape, any batch) in, one float32 logit per class out. (MLflow's TensorFlow flavour does not
support Keras 3; the Keras flavour does.)
"""

import contextlib
import io
from importlib import metadata

import mlflow
import numpy as np
from mlflow.models import ModelSignature
from mlflow.types import Schema, TensorSpec

from pipeline.compat.mlflow_save_example import example_directory_created
from pipeline.core.native_logs import quiet_native_logs

EXAMPLE_IMAGES = 3
# TensorFlow's CPU-only build exists for Linux x86-64 alone; elsewhere the regular build (pyproject.toml).
_TENSORFLOW_CPU = "sys_platform == 'linux' and platform_machine == 'x86_64'"


def requirements() -> list[str]:
    """What a served model needs, pinned to the versions that trained it."""
    tensorflow = metadata.version("tensorflow-cpu" if _installed("tensorflow-cpu") else "tensorflow")
    return [
        f"tensorflow-cpu=={tensorflow}; {_TENSORFLOW_CPU}",
        f"tensorflow=={tensorflow}; not ({_TENSORFLOW_CPU})",
        *(f"{name}=={metadata.version(name)}" for name in ("keras", "mlflow", "numpy")),
    ]


def _installed(distribution: str) -> bool:
    try:
        metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return False
    return True


def signature(image_shape: tuple[int, ...], classes: int) -> ModelSignature:
    """Raw uint8 pixels of `image_shape` in, float32 logits out, any batch size."""
    return ModelSignature(
        inputs=Schema([TensorSpec(np.dtype(np.uint8), (-1, *image_shape))]),
        outputs=Schema([TensorSpec(np.dtype(np.float32), (-1, classes), "logits")]),
    )


def log_keras_model(model, name: str, examples: np.ndarray, tags: dict[str, str]) -> str:
    """Log `model` to the active run as an MLflow model (a LoggedModel in MLflow 3) called `name`; its id.

    `examples`: a few real images (uint8), the input example a user sees and MLflow checks the
    model against. Keras's progress bars and TensorFlow's native logs are kept off the console.
    """
    with quiet_native_logs(), example_directory_created(), contextlib.redirect_stdout(io.StringIO()):
        info = mlflow.keras.log_model(
            model,
            name=name,
            signature=signature(tuple(model.input_shape[1:]), model.output_shape[-1]),
            input_example=examples[:EXAMPLE_IMAGES].astype(np.uint8),
            pip_requirements=requirements(),
            tags=tags,
        )
    return info.model_id
