"""What the prepared data is (`DatasetInfo`: name, classes, image shape), and the check that arrays fit it.

The built-in datasets' classes and image shape; preprocess writes the description, the later stages read it."""

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.core.errors import PipelineError, missing
from pipeline.core.paths import DATASET_FILE

CLASS_NAMES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
IMAGE_SHAPE = (28, 28)  # Fashion-MNIST's and MNIST's images
# The datasets `data.dataset` can name: two built-in ones in IDX files, and a folder of your own images.
DATASETS = ("fashion_mnist", "mnist", "image_folder")
IDX_CLASS_NAMES = {"fashion_mnist": CLASS_NAMES, "mnist": tuple(str(digit) for digit in range(10))}
SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class DatasetInfo:
    """What the prepared data is: its name, class names (in label order: the models' output order) and
    the shape of one image ((height, width) grayscale or (height, width, 3) RGB). Preprocess writes
    it to DATASET_FILE; the later stages read it with `load_dataset_info`."""

    name: str
    class_names: tuple[str, ...]
    image_shape: tuple[int, ...]

    def as_json(self) -> dict:
        return {"name": self.name, "class_names": list(self.class_names), "image_shape": list(self.image_shape)}


def idx_dataset_info(name: str) -> DatasetInfo:
    """The DatasetInfo of a built-in IDX dataset (fashion_mnist or mnist): ten classes of 28×28 grey images."""
    return DatasetInfo(name, IDX_CLASS_NAMES[name], IMAGE_SHAPE)


def load_dataset_info(path: Path = DATASET_FILE) -> DatasetInfo:
    """The DatasetInfo that preprocess wrote; a PipelineError when it is missing or malformed."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        info = DatasetInfo(str(raw["name"]), tuple(raw["class_names"]), tuple(raw["image_shape"]))
    except FileNotFoundError as error:
        raise missing(path, "preprocess") from error
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise PipelineError(f"{path} is not a dataset description: {error!r}; run `dvc repro`") from error
    shape_ok = len(info.image_shape) == 2 or (len(info.image_shape) == 3 and info.image_shape[2] == 3)
    names_ok = len(info.class_names) >= 2 and all(isinstance(n, str) and n for n in info.class_names)
    if not (shape_ok and names_ok):
        raise PipelineError(f"{path} is not a dataset description: {info}; run `dvc repro`")
    return info


def check_dataset(images: np.ndarray, labels: np.ndarray, name: str, info: DatasetInfo) -> None:
    """Refuse images and labels that do not belong together, or not to the dataset `info` describes."""
    if images.shape[1:] != info.image_shape:
        expected = ", ".join(map(str, ("n", *info.image_shape)))
        raise PipelineError(f"{name}: images have shape {images.shape}, expected ({expected})")
    if labels.ndim != 1 or len(labels) != len(images):
        raise PipelineError(f"{name}: {len(labels)} labels for {len(images)} images")
    classes = len(info.class_names)
    if labels.size and labels.max() >= classes:
        raise PipelineError(f"{name}: label {labels.max()} is not one of the {classes} classes")
