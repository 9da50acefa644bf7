"""Stage `preprocess`: split the raw data into train, validation and test sets, written as `.npz`.

IDX datasets (fashion_mnist, mnist): the training file is split into train and a stratified
validation set; the t10k file is the test set. An image folder: a stratified test set, then a
stratified validation set, the rest to train. Writes `data/prepared/dataset.json` (the dataset's
name, class names and image shape, which the later stages read), the dataset summary (counts per
class per split, content hash) and a 5×5 grid of sample images under `reports/data/`.
"""

from pipeline.core import cli

if __name__ == "__main__":  # a mistyped params.yaml fails now, not after the imports below
    cli.check_params_early()

from pathlib import Path

import numpy as np

from pipeline.core import config
from pipeline.core.errors import PipelineError, missing
from pipeline.core.files import read_json, save_figure, write_json
from pipeline.core.paths import (
    DATA_REPORTS_DIR,
    DATASET_FILE,
    RAW_DIR,
    RAW_FOLDER_CLASSES,
    RAW_FOLDER_IMAGES,
    split_path,
)
from pipeline.data.dataset_info import DatasetInfo, check_dataset, idx_dataset_info
from pipeline.data.idx import RAW_FILES, parse_idx
from pipeline.data.split_files import load_split, save_split
from pipeline.data.splits import split_dataset, split_image_folder, summarize
from pipeline.reporting.plots import plot_samples


def _fetched(path: Path) -> Path:
    if not path.is_file():
        raise missing(path, "fetch")
    return path


def load_raw_split(split: str, info: DatasetInfo) -> tuple[np.ndarray, np.ndarray]:
    """Parse and check one of the raw (images, labels) pairs of an IDX dataset in `data/raw/`."""
    images, labels = (parse_idx(_fetched(RAW_DIR / name).read_bytes(), name) for name in RAW_FILES[split])
    check_dataset(images, labels, split, info)
    return images, labels


def load_raw_folder() -> tuple[np.ndarray, np.ndarray, DatasetInfo]:
    """The images, labels and DatasetInfo of an image folder as fetch stored it in `data/raw/`."""
    images, labels = load_split(_fetched(RAW_FOLDER_IMAGES))
    class_names = read_json(_fetched(RAW_FOLDER_CLASSES))
    if not isinstance(class_names, list) or len(class_names) < 2 or not all(isinstance(n, str) for n in class_names):
        raise PipelineError(f"{RAW_FOLDER_CLASSES} is not a list of class names: rerun the fetch stage")
    info = DatasetInfo("image_folder", tuple(class_names), images.shape[1:])
    check_dataset(images, labels, RAW_FOLDER_IMAGES.name, info)
    return images, labels, info


def prepare_splits(params: config.Params) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], DatasetInfo]:
    """The train, val and test splits of the dataset params.yaml names, and its DatasetInfo."""
    data = params.data
    if data.dataset == "image_folder":
        images, labels, info = load_raw_folder()
        test_fraction = data.image_folder.test_fraction
        return split_image_folder(images, labels, test_fraction, data.val_fraction, params.seed, data.limit), info
    info = idx_dataset_info(data.dataset)
    splits = split_dataset(*load_raw_split("train", info), data.val_fraction, params.seed, data.limit)
    return splits | {"test": load_raw_split("test", info)}, info


def main() -> None:
    splits, info = prepare_splits(config.load_params())
    for split, (images, labels) in splits.items():
        save_split(split_path(split), images, labels)
    write_json(DATASET_FILE, info.as_json())
    summary = summarize(splits, info.class_names)
    write_json(DATA_REPORTS_DIR / "summary.json", summary)
    save_figure(DATA_REPORTS_DIR / "samples.png", plot_samples(*splits["train"], info.class_names))
    print(f"prepared {info.name},", ", ".join(f"{s}: {c['total']:,}" for s, c in summary["counts"].items()))


if __name__ == "__main__":
    cli.run(main)
