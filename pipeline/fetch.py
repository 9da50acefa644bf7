"""Stage `fetch`: put the dataset `data.dataset` names, verified, into `data/raw/`.

fashion_mnist: the four IDX files. Sources are tried in order: a directory named in params (or
$FASHION_MNIST_DIR), the Debian/Ubuntu package's directory, then the canonical HTTP mirrors;
$FASHION_MNIST_SOURCES replaces that list. Mirrors compress differently, so the SHA-256 is
checked on the decompressed bytes. A source you name (data.source_dir, $FASHION_MNIST_DIR,
$FASHION_MNIST_SOURCES) is authoritative: a bad file there (corrupt, truncated, another SHA-256) is an
error naming the file, the source and why, never a reason to take another copy; only a file it lacks
is looked for further, with a warning. Each file's line says which source it came from.

mnist: the four IDX files from `data.source_dir`, then the canonical mirrors. The published
SHA-256 are of the .gz files, so the compressed bytes are checked, and a directory must hold
the .gz files.

Both land decompressed; nothing is written until every file is verified.

image_folder: every image of `data.image_folder.directory` (one subfolder per class), resized,
as `images.npz` (uint8 images, labels) and `classes.json` (the subfolders' names, in label order).
"""

from pipeline.core import cli

if __name__ == "__main__":  # a mistyped params.yaml fails now, not after the imports below
    cli.check_params_early()

import os
from pathlib import Path

from pipeline.core import config
from pipeline.core.files import staged_outputs, write_json
from pipeline.core.paths import RAW_DIR, RAW_FOLDER_CLASSES, RAW_FOLDER_IMAGES
from pipeline.data.image_folder import load_image_folder
from pipeline.data.sources import EXPECTED_SHA256, MNIST_GZ_SHA256, default_sources, fetch_dataset
from pipeline.data.split_files import save_split


def fetch_image_folder(folder: config.ImageFolderParams, images_path: Path, classes_path: Path) -> None:
    """Write the folder's images and labels to `images_path` and its class names to `classes_path`,
    both or neither."""
    images, labels, class_names = load_image_folder(folder.path, folder.image_size, folder.color_mode)
    with staged_outputs(images_path, classes_path) as staged:
        save_split(staged[images_path], images, labels)
        write_json(staged[classes_path], class_names)
    shape = "×".join(map(str, images.shape[1:]))
    print(f"fetched {len(images):,} images ({shape}) of {len(class_names)} classes from {folder.path}")


def main() -> None:
    data = config.load_params().data
    if data.dataset == "image_folder":
        fetch_image_folder(data.image_folder, RAW_FOLDER_IMAGES, RAW_FOLDER_CLASSES)
        return
    sources = default_sources(data.source_dir, dict(os.environ), data.dataset)
    if data.dataset == "mnist":
        fetch_dataset(RAW_DIR, sources, MNIST_GZ_SHA256, compressed=True)
    else:
        fetch_dataset(RAW_DIR, sources, EXPECTED_SHA256)


if __name__ == "__main__":
    cli.run(main)
