"""A trained model as a classifier of prepared images: a `.tflite` file (LiteRT, no TensorFlow import)
or a `.keras` file, with its class names, checked to take images and score each class."""

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.core.errors import PipelineError
from pipeline.core.files import read_json
from pipeline.core.paths import DATASET_FILE, LABELS_FILE_NAME, VariantPaths
from pipeline.data.dataset_info import CLASS_NAMES, IMAGE_SHAPE, load_dataset_info
from pipeline.on_device import litert
from pipeline.training.keras_file import load_keras_model, predict_logits

Logits = Callable[[np.ndarray], np.ndarray]


def _shape_text(shape: tuple) -> str:
    return "[batch, " + ", ".join(str(size) for size in shape) + "]"


@dataclass(frozen=True)
class Labels:
    """The names of a model's outputs, in order, and where they come from. When they are a dataset's
    (no labels.txt beside the model), the model must take that dataset's `image_shape`."""

    names: tuple[str, ...]
    source: str
    image_shape: tuple[int, ...] | None = None


def read_labels(path: Path) -> tuple[str, ...]:
    """The class names of a `labels.txt`: one a line, in output order."""
    try:
        names = tuple(line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip())
    except (OSError, UnicodeDecodeError) as error:
        raise PipelineError(f"cannot read {path}: {getattr(error, 'strerror', None) or error}") from error
    if not names:
        raise PipelineError(f"{path} names no classes (one name a line)")
    return names


def labels_for(model_path: Path) -> Labels:
    """The class names of a model: `labels.txt` beside it, else the prepared dataset's, else Fashion-MNIST's."""
    labels_file = Path(model_path).parent / LABELS_FILE_NAME
    if labels_file.is_file():
        return Labels(read_labels(labels_file), str(labels_file))
    if DATASET_FILE.is_file():
        dataset = load_dataset_info()
        return Labels(dataset.class_names, f"the prepared dataset {dataset.name}", dataset.image_shape)
    return Labels(CLASS_NAMES, "Fashion-MNIST", IMAGE_SHAPE)


def _accepted_inputs(labels: Labels) -> list[tuple[int, ...]]:
    """The input shapes a model named by `labels` may take: its dataset's images, with or without a grey channel."""
    if labels.image_shape is None or len(labels.image_shape) == 3:
        return [labels.image_shape]
    return [labels.image_shape, (*labels.image_shape, 1)]


def _check_shapes(source: Path, input_shape: tuple, output_shape: tuple, labels: Labels) -> None:
    """Refuse a model that does not take images of its dataset's shape, or does not score each of its
    classes (shapes without batch)."""
    input_shape = tuple(input_shape)
    is_image = len(input_shape) == 2 or (len(input_shape) == 3 and input_shape[2] in (1, 3))
    if not is_image:
        raise PipelineError(
            f"{source} takes input {_shape_text(input_shape)}, not images "
            "([batch, height, width] grey or [batch, height, width, 3] RGB)"
        )
    if labels.image_shape is not None and input_shape not in _accepted_inputs(labels):
        expected = " or ".join(_shape_text(shape) for shape in _accepted_inputs(labels))
        raise PipelineError(
            f"{source} takes input {_shape_text(input_shape)}, not {expected}: not a model of {labels.source} "
            f"(and there is no {LABELS_FILE_NAME} beside it)"
        )
    if tuple(output_shape) != (len(labels.names),):
        raise PipelineError(
            f"{source} returns {_shape_text(output_shape)}, not [batch, {len(labels.names)}] "
            f"(one score per class of {labels.source}: {', '.join(labels.names)})"
        )


@dataclass(frozen=True)
class Classifier:
    """A loaded model: called on a batch of prepared images, it returns their float32 logits."""

    logits: Logits
    input_shape: tuple[int, ...]
    class_names: tuple[str, ...]

    def __call__(self, pixels: np.ndarray) -> np.ndarray:
        return self.logits(pixels)


def _load_tflite(path: Path, threads: int, labels: Labels) -> Classifier:
    model = litert.TFLiteModel.load(path, threads)
    _check_shapes(path, model.input_shape, (model.num_classes,), labels)
    return Classifier(model.logits, model.input_shape, labels.names)


def _load_keras(path: Path, labels: Labels) -> Classifier:
    """A `.keras` model (keras_model.load_keras_model: TensorFlow is imported only then)."""
    model = load_keras_model(path, written_by=None)
    inputs, outputs = getattr(model, "inputs", None) or [], getattr(model, "outputs", None) or []
    if len(inputs) != 1 or len(outputs) != 1:
        raise PipelineError(f"{path} has {len(inputs)} inputs and {len(outputs)} outputs, not one of each")
    shape = tuple(inputs[0].shape[1:])
    _check_shapes(path, shape, tuple(outputs[0].shape[1:]), labels)

    def logits(pixels: np.ndarray) -> np.ndarray:
        return np.asarray(predict_logits(model, pixels.reshape(len(pixels), *shape)))

    return Classifier(logits, shape, labels.names)


def load_model(path: Path, threads: int) -> Classifier:
    """A `.keras` or `.tflite` classifier with its class names (`labels_for`): a function from prepared
    images (`[n, *input_shape]` float32 pixels 0-255) to logits."""
    labels = labels_for(Path(path))
    if Path(path).suffix == ".keras":
        return _load_keras(Path(path), labels)
    return _load_tflite(Path(path), threads, labels)


def default_model(comparison: Path) -> Path:
    """The best variant's float32 `.tflite`, as the compare stage recorded it in `comparison`."""
    if not comparison.exists():
        raise PipelineError(f"{comparison} is missing, so there is no best model yet: run `dvc repro`, or pass --model")
    summary = read_json(comparison)
    best = summary.get("best") if isinstance(summary, dict) else None
    if not isinstance(best, str) or not best:
        raise PipelineError(f"{comparison} names no best variant: run `dvc repro`, or pass --model")
    path = VariantPaths(best).tflite()
    if not path.exists():
        raise PipelineError(f"the best variant's model {path} is missing: run `dvc repro`, or pass --model")
    return path
