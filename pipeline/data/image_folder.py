"""A folder of your own images, one subfolder per class, read into arrays as Keras labels them."""

import os
from pathlib import Path

import numpy as np

from pipeline.core.errors import PipelineError
from pipeline.core.native_logs import quiet_native_logs

IMAGE_SUFFIXES = (".bmp", ".gif", ".jpeg", ".jpg", ".png")  # what Keras' image_dataset_from_directory reads


def _holds_images(folder: Path) -> bool:
    """Whether Keras finds an image in `folder` or below it (by the file's suffix, as Keras does)."""
    return any(file.lower().endswith(IMAGE_SUFFIXES) for _, _, files in os.walk(folder) for file in files)


def find_class_folders(directory: Path) -> list[str]:
    """The class folders' names, in the order Keras labels them; a PipelineError for a directory
    that is not one subfolder of images per class, at least two."""
    if not directory.is_dir():
        problem = "is not a directory" if directory.exists() else "does not exist"
        raise PipelineError(f"data.image_folder.directory: {directory} {problem}")
    classes = sorted(entry.name for entry in directory.iterdir() if entry.is_dir() and not entry.name.startswith("."))
    if len(classes) < 2:
        found = f"only {classes[0]!r}" if classes else "none"
        raise PipelineError(f"{directory} needs one subfolder of images per class, at least 2; found {found}")
    for name in classes:
        if not _holds_images(directory / name):
            raise PipelineError(f"{directory}: class folder {name!r} holds no images ({', '.join(IMAGE_SUFFIXES)})")
    return classes


def load_image_folder(
    directory: Path, image_size: tuple[int, ...], color_mode: str
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Every image of a folder with one subfolder per class, resized to `image_size` (height, width):
    uint8 images ((n, h, w) grayscale, (n, h, w, 3) RGB), their labels and the class names in label order."""
    find_class_folders(directory)
    from pipeline.core.frameworks import keras, tf  # TensorFlow: imported only for this dataset (seconds)

    with quiet_native_logs():  # what TensorFlow's C++ code prints as it reads the images
        dataset = keras.utils.image_dataset_from_directory(
            str(directory),
            labels="inferred",
            color_mode=color_mode,
            image_size=tuple(image_size),
            batch_size=None,
            shuffle=False,
        )
        try:
            batches = list(dataset.batch(256).as_numpy_iterator())
        except tf.errors.OpError as error:
            raise PipelineError(f"{directory}: an image cannot be read: {error.message}".splitlines()[0]) from error
    images = np.concatenate([images for images, _ in batches])
    images = np.clip(np.round(images), 0, 255).astype(np.uint8)
    labels = np.concatenate([labels for _, labels in batches]).astype(np.int64)
    return (images[..., 0] if color_mode == "grayscale" else images), labels, list(dataset.class_names)
