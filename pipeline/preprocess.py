"""Stage `preprocess`: split the raw data into train, validation and test sets, written as `.npz`.

IDX datasets (fashion_mnist, mnist): the training file is split into train and a stratified
validation set; the t10k file is the test set. An image folder: a stratified test set, then a
stratified validation set, the rest to train. Writes `data/prepared/dataset.json` (the dataset's
name, class names and image shape, which the later stages read), the dataset summary (counts per
class per split, content hash) and a 5×5 grid of sample images under `reports/data/`.
"""

from pipeline import cli

if __name__ == "__main__":  # a mistyped params.yaml fails now, not after the imports below
    cli.check_params_early()

import hashlib
from pathlib import Path

import numpy as np

from pipeline import config
from pipeline.artifacts import load_split, read_json, save_figure, save_split, write_json
from pipeline.dataset import DatasetInfo, idx_dataset_info
from pipeline.errors import PipelineError, missing
from pipeline.paths import DATA_REPORTS_DIR, DATASET_FILE, RAW_DIR, RAW_FOLDER_CLASSES, RAW_FOLDER_IMAGES, split_path
from pipeline.plots import plot_samples

IDX_DTYPE_UBYTE = 0x08
RAW_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def parse_idx(data: bytes, name: str = "IDX data") -> np.ndarray:
    """Parse an unsigned-byte IDX file (the MNIST format) into an array of its declared shape."""
    if len(data) < 4 or data[:2] != b"\x00\x00" or data[2] != IDX_DTYPE_UBYTE:
        raise PipelineError(f"{name}: not an unsigned-byte IDX file (magic number {data[:4].hex() or 'missing'})")
    ndim = data[3]
    header_size = 4 + 4 * ndim
    if ndim == 0 or len(data) < header_size:
        raise PipelineError(f"{name}: IDX header declares {ndim} dimensions but is truncated")
    shape = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    expected = header_size + int(np.prod(shape))
    if len(data) != expected:
        raise PipelineError(f"{name}: {len(data)} bytes, but shape {shape} needs {expected} (truncated or padded)")
    return np.frombuffer(data, dtype=np.uint8, offset=header_size).reshape(shape)


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


def _class_quotas(class_sizes: np.ndarray, total: int) -> np.ndarray:
    """Split `total` across classes in proportion to their sizes, summing to exactly `total`
    (largest remainders get the leftover places)."""
    exact = class_sizes * total / class_sizes.sum()
    quotas = np.floor(exact).astype(int)
    leftover = total - quotas.sum()
    quotas[np.argsort(-(exact - quotas), kind="stable")[:leftover]] += 1
    return quotas


def stratified_split(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (selected, rest): round(fraction × n) selected at random, each class in proportion.
    Both are shuffled."""
    rng = np.random.default_rng(seed)
    classes, class_sizes = np.unique(labels, return_counts=True)
    quotas = _class_quotas(class_sizes, int(round(len(labels) * fraction)))
    selected, rest = [], []
    for label, quota in zip(classes, quotas):
        members = rng.permutation(np.flatnonzero(labels == label))
        selected.append(members[:quota])
        rest.append(members[quota:])
    return rng.permutation(np.concatenate(selected)), rng.permutation(np.concatenate(rest))


def split_dataset(
    images: np.ndarray, labels: np.ndarray, val_fraction: float, seed: int, limit: int | None = None
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Cap the training images at `limit` (stratified), then split off a stratified validation set."""
    if limit is not None and limit < len(labels):
        kept, _ = stratified_split(labels, limit / len(labels), seed)
        images, labels = images[kept], labels[kept]
    val, train = stratified_split(labels, val_fraction, seed + 1)
    return {"train": (images[train], labels[train]), "val": (images[val], labels[val])}


def split_image_folder(
    images: np.ndarray,
    labels: np.ndarray,
    test_fraction: float,
    val_fraction: float,
    seed: int,
    limit: int | None = None,
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Hold out a stratified test set, then split the rest as `split_dataset` does (`limit` caps
    the images left for training and validation)."""
    test, rest = stratified_split(labels, test_fraction, seed + 2)
    splits = split_dataset(images[rest], labels[rest], val_fraction, seed, limit)
    return splits | {"test": (images[test], labels[test])}


def summarize(splits: dict[str, tuple[np.ndarray, np.ndarray]], class_names: tuple[str, ...]) -> dict:
    """Counts per class (by name) per split and a hash of the content, for reports and MLflow tags."""
    digest = hashlib.sha256()
    counts = {}
    for split, (images, labels) in splits.items():
        digest.update(images.tobytes() + labels.astype(np.int64).tobytes())
        per_class = np.bincount(labels, minlength=len(class_names))
        counts[split] = {"total": int(len(labels))} | dict(zip(class_names, map(int, per_class)))
    return {"counts": counts, "data_sha256": digest.hexdigest()}


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
