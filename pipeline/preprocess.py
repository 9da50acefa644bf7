"""Stage `preprocess`: parse the IDX files, split off a stratified validation set, write `.npz`.

Also writes the dataset summary (counts per class per split, content hash) and a 5×5
grid of sample images under `reports/data/`.
"""

import hashlib

import numpy as np

from pipeline import cli, config
from pipeline.artifacts import save_figure, save_split, write_json
from pipeline.plots import plot_samples

IDX_DTYPE_UBYTE = 0x08
RAW_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def parse_idx(data: bytes, name: str = "IDX data") -> np.ndarray:
    """Parse an unsigned-byte IDX file (the MNIST format) into an array of its declared shape."""
    if len(data) < 4 or data[:2] != b"\x00\x00" or data[2] != IDX_DTYPE_UBYTE:
        raise cli.PipelineError(f"{name}: not an unsigned-byte IDX file (magic number {data[:4].hex() or 'missing'})")
    ndim = data[3]
    header_size = 4 + 4 * ndim
    if ndim == 0 or len(data) < header_size:
        raise cli.PipelineError(f"{name}: IDX header declares {ndim} dimensions but is truncated")
    shape = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    expected = header_size + int(np.prod(shape))
    if len(data) != expected:
        raise cli.PipelineError(f"{name}: {len(data)} bytes, but shape {shape} needs {expected} (truncated or padded)")
    return np.frombuffer(data, dtype=np.uint8, offset=header_size).reshape(shape)


def check_dataset(images: np.ndarray, labels: np.ndarray, name: str) -> None:
    """Refuse images and labels that do not belong together."""
    if images.ndim != 3 or images.shape[1:] != config.IMAGE_SHAPE:
        raise cli.PipelineError(f"{name}: images have shape {images.shape}, expected (n, 28, 28)")
    if labels.ndim != 1 or len(labels) != len(images):
        raise cli.PipelineError(f"{name}: {len(labels)} labels for {len(images)} images")
    if labels.size and labels.max() >= len(config.CLASS_NAMES):
        raise cli.PipelineError(f"{name}: label {labels.max()} is not one of the {len(config.CLASS_NAMES)} classes")


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


def summarize(splits: dict[str, tuple[np.ndarray, np.ndarray]]) -> dict:
    """Counts per class per split and a hash of the content, for reports and MLflow tags."""
    digest = hashlib.sha256()
    counts = {}
    for split, (images, labels) in splits.items():
        digest.update(images.tobytes() + labels.astype(np.int64).tobytes())
        per_class = np.bincount(labels, minlength=len(config.CLASS_NAMES))
        counts[split] = {"total": int(len(labels))} | dict(zip(config.CLASS_NAMES, map(int, per_class)))
    return {"counts": counts, "data_sha256": digest.hexdigest()}


def load_raw_split(split: str) -> tuple[np.ndarray, np.ndarray]:
    """Parse and check one of the raw (images, labels) pairs in `data/raw/`."""
    arrays = []
    for name in RAW_FILES[split]:
        path = config.RAW_DIR / name
        try:
            arrays.append(parse_idx(path.read_bytes(), name))
        except FileNotFoundError as error:
            raise cli.PipelineError(f"{path} is missing: run the fetch stage first (dvc repro)") from error
    check_dataset(*arrays, name=split)
    return arrays[0], arrays[1]


def main() -> None:
    params = config.load_params()
    train_images, train_labels = load_raw_split("train")
    splits = split_dataset(train_images, train_labels, params.data.val_fraction, params.seed, params.data.limit)
    splits["test"] = load_raw_split("test")
    for split, (images, labels) in splits.items():
        save_split(config.split_path(split), images, labels)
    summary = summarize(splits)
    write_json(config.DATA_REPORTS_DIR / "summary.json", summary)
    save_figure(config.DATA_REPORTS_DIR / "samples.png", plot_samples(*splits["train"], config.CLASS_NAMES))
    print("prepared", ", ".join(f"{s}: {c['total']:,}" for s, c in summary["counts"].items()))


if __name__ == "__main__":
    cli.run(main)
