"""The project's paths and the typed, validated view of `params.yaml`, defined once.

Every stage imports its paths and parameters from here, so a renamed folder or a
mistyped key is fixed in one place and reported the same way everywhere.
"""

import argparse
import dataclasses
import difflib
import json
import types
import typing
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import yaml

from pipeline import cli
from pipeline.cli import PipelineError

ROOT = Path(__file__).resolve().parent.parent
PARAMS_FILE = ROOT / "params.yaml"
RAW_DIR = ROOT / "data" / "raw"
PREPARED_DIR = ROOT / "data" / "prepared"
MODELS_DIR = ROOT / "models"
REPORTS_DIR = ROOT / "reports"
DATA_REPORTS_DIR = REPORTS_DIR / "data"
VARIANT_REPORTS_DIR = REPORTS_DIR / "variants"
RAW_FOLDER_IMAGES = RAW_DIR / "images.npz"  # an image folder, as fetch stores it: uint8 images, labels
RAW_FOLDER_CLASSES = RAW_DIR / "classes.json"  # ...and its class names, in label order
DATASET_FILE = PREPARED_DIR / "dataset.json"  # what preprocess prepared: the DatasetInfo later stages read
SYSTEM_DATA_DIR = Path("/usr/share/datasets/fashion-mnist")
DATA_DIR_ENV = "FASHION_MNIST_DIR"

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
COLOR_MODES = ("rgb", "grayscale")
SPLITS = ("train", "val", "test")
MODEL_TYPES = ("mlp", "cnn")
LR_SCHEDULES = ("constant", "cosine")
# auto: mixed_bfloat16 where the CPU runs bfloat16 natively (pipeline/cpu.py), float32 elsewhere
PRECISIONS = ("auto", "float32", "mixed_bfloat16")
LOOPS = ("fit", "custom")  # Keras fit, or the tutorials' tf.GradientTape loop
MONITORS = ("loss", "accuracy", "val_loss", "val_accuracy")  # what each epoch records
LOSSES = ("cross_entropy", "mse")  # sparse cross-entropy from logits; mean squared error on one-hot labels
# What export writes per variant: float32, dynamic-range (int8 weights), float16 weights, and
# full-integer int8 (int8 weights, activations, input and output).
TFLITE_FLAVOURS = ("float32", "dynamic_range", "float16", "int8")
QUANTIZED_FLAVOURS = TFLITE_FLAVOURS[1:]
# Comparison columns a best variant can be picked by; the first four are costs (lower is better).
LOWER_IS_BETTER = ("test_loss", "train_test_gap", "tflite_size_bytes", "train_seconds")
COMPARABLE_METRICS = (*LOWER_IS_BETTER, "val_accuracy", "test_accuracy", "tflite_accuracy")
LABELS_FILE_NAME = "labels.txt"
COMPARISON = {suffix: REPORTS_DIR / f"comparison.{suffix}" for suffix in ("md", "json", "png")}


def _require(condition: bool, key: str, rule: str) -> None:
    if not condition:
        raise PipelineError(f"params.yaml: {key}: {rule}")


def did_you_mean(word: object, choices: Iterable[str]) -> str:
    """`; did you mean 'x'?` for the choice closest to a mistyped `word`, or "" when none is close."""
    close = difflib.get_close_matches(str(word), list(choices), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def _require_choice(value: str, choices: tuple[str, ...], key: str) -> None:
    _require(value in choices, key, f"must be one of {', '.join(choices)}{did_you_mean(value, choices)}")


def split_path(split: str) -> Path:
    """The prepared `.npz` file of one split."""
    return PREPARED_DIR / f"{split}.npz"


@dataclass(frozen=True)
class VariantPaths:
    """Where one variant's stages write; `dvc.yaml` declares the same paths."""

    name: str

    @property
    def model_dir(self) -> Path:
        return MODELS_DIR / self.name

    @property
    def reports_dir(self) -> Path:
        return VARIANT_REPORTS_DIR / self.name

    @property
    def model(self) -> Path:
        return self.model_dir / "model.keras"

    @property
    def run_file(self) -> Path:
        return self.model_dir / "mlflow_run.json"

    def tflite(self, flavour: str = "float32") -> Path:
        """The exported file of one of TFLITE_FLAVOURS; the float32 one is plain `model.tflite`."""
        suffix = "" if flavour == "float32" else f"_{flavour}"
        return self.model_dir / f"model{suffix}.tflite"

    @property
    def history(self) -> Path:
        return self.reports_dir / "history.csv"

    @property
    def learning_curves(self) -> Path:
        return self.reports_dir / "learning_curves.png"

    @property
    def training(self) -> Path:
        return self.reports_dir / "training.json"

    @property
    def metrics(self) -> Path:
        return self.reports_dir / "metrics.json"

    @property
    def confusion_csv(self) -> Path:
        return self.reports_dir / "confusion.csv"

    @property
    def confusion_png(self) -> Path:
        return self.reports_dir / "confusion.png"

    @property
    def predictions_png(self) -> Path:
        return self.reports_dir / "predictions.png"

    @property
    def tflite_metrics(self) -> Path:
        return self.reports_dir / "tflite.json"

    @property
    def labels(self) -> Path:
        """The class names, one a line in output order, as TFLite apps ship them beside the model."""
        return self.model_dir / LABELS_FILE_NAME


@dataclass(frozen=True)
class ImageFolderParams:
    """A folder of your own images, one subfolder per class (the flowers tutorial's layout)."""

    directory: str | None = None  # relative paths are relative to the repository root
    image_size: tuple[int, ...] = (64, 64)  # [height, width] every image is resized to
    color_mode: str = "rgb"
    test_fraction: float = 0.2  # stratified share held out as the test set

    def __post_init__(self) -> None:
        key = "data.image_folder"
        _require(
            len(self.image_size) == 2 and min(self.image_size) >= 1, f"{key}.image_size", "must be [height, width]"
        )
        _require_choice(self.color_mode, COLOR_MODES, f"{key}.color_mode")
        _require(0 < self.test_fraction < 1, f"{key}.test_fraction", "must be between 0 and 1 (exclusive)")

    @property
    def path(self) -> Path:
        """The directory, `~` expanded, relative to the repository root unless absolute."""
        return ROOT / Path(self.directory or "").expanduser()

    @property
    def image_shape(self) -> tuple[int, ...]:
        """(height, width) for grayscale images, (height, width, 3) for RGB ones."""
        return tuple(self.image_size) + ((3,) if self.color_mode == "rgb" else ())


@dataclass(frozen=True)
class DataParams:
    """Which dataset, and how it is fetched and split."""

    dataset: str = "fashion_mnist"
    source_dir: str | None = None
    val_fraction: float = 0.1
    limit: int | None = None
    image_folder: ImageFolderParams = ImageFolderParams()

    def __post_init__(self) -> None:
        _require_choice(self.dataset, DATASETS, "data.dataset")
        _require(0 < self.val_fraction < 1, "data.val_fraction", "must be between 0 and 1 (exclusive)")
        _require(self.limit is None or self.limit >= 100, "data.limit", "must be null or at least 100")
        if self.dataset == "image_folder":
            _require(
                bool(self.image_folder.directory),
                "data.image_folder.directory",
                "must name the folder of images (one subfolder per class) when data.dataset is image_folder",
            )
            _require(
                self.image_folder.test_fraction + self.val_fraction < 1,
                "data.image_folder.test_fraction",
                "plus data.val_fraction must leave some images for training (sum below 1)",
            )


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
        raise PipelineError(f"{path} is missing: run the preprocess stage first (dvc repro)") from error
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise PipelineError(f"{path} is not a dataset description: {error!r}; run `dvc repro`") from error
    shape_ok = len(info.image_shape) == 2 or (len(info.image_shape) == 3 and info.image_shape[2] == 3)
    names_ok = len(info.class_names) >= 2 and all(isinstance(n, str) and n for n in info.class_names)
    if not (shape_ok and names_ok):
        raise PipelineError(f"{path} is not a dataset description: {info}; run `dvc repro`")
    return info


@dataclass(frozen=True)
class AugmentParams:
    """Random transforms of the training images: layers inside the model, active only in training,
    so evaluation and the exported files never see them. 0 / false turns one off."""

    flip: bool = False  # RandomFlip("horizontal")
    rotation: float = 0.0  # RandomRotation: the largest turn, as a fraction of a full circle
    zoom: float = 0.0  # RandomZoom: the largest zoom in or out, as a fraction of the size
    translation: float = 0.0  # RandomTranslation: the largest shift, as a fraction of the size


@dataclass(frozen=True)
class EarlyStoppingParams:
    """Keras EarlyStopping: stop when `monitor` has not improved for `patience` epochs."""

    monitor: str = "val_loss"
    patience: int = 3
    restore_best_weights: bool = True


@dataclass(frozen=True)
class StopAtParams:
    """Stop as soon as `monitor` reaches `target` (at or below it for a loss, at or above otherwise)."""

    monitor: str
    target: float


@dataclass(frozen=True)
class VariantParams:
    """One model variant: its architecture and how it is trained."""

    model: str
    dropout: float = 0.0
    hidden_units: tuple[int, ...] = (128,)  # one Dense(relu) layer per entry, before the logits
    filters: tuple[int, ...] = (32, 64)
    batch_norm: bool = False
    epochs: int = 10
    batch_size: int = 64
    learning_rate: float = 0.001
    lr_schedule: str = "constant"
    precision: str = "auto"
    loss: str = "cross_entropy"
    loop: str = "fit"
    early_stopping: EarlyStoppingParams | None = None
    stop_at: StopAtParams | None = None
    augment: AugmentParams = AugmentParams()


@dataclass(frozen=True)
class TrackingParams:
    """MLflow settings; the tracking URI itself comes from the environment or the default."""

    experiment: str = "fashion-mnist"


@dataclass(frozen=True)
class ExportParams:
    """How the exported `.tflite` files are calibrated and measured."""

    representative_images: int = 500  # training images that calibrate the int8 file's activations
    latency_runs: int = 200  # single-image calls timed per file (median and p95)
    throughput_batch: int = 256  # the batch size images/s is measured at

    def __post_init__(self) -> None:
        _require(self.representative_images >= 10, "export.representative_images", "must be at least 10")
        _require(self.latency_runs >= 20, "export.latency_runs", "must be at least 20")
        _require(self.throughput_batch >= 1, "export.throughput_batch", "must be at least 1")


@dataclass(frozen=True)
class CompareParams:
    """How the compare stage picks the best variant."""

    best_by: str = "test_accuracy"

    def __post_init__(self) -> None:
        _require_choice(self.best_by, COMPARABLE_METRICS, "compare.best_by")


@dataclass(frozen=True)
class GateParams:
    """The bounds `python -m pipeline.check` holds every variant to."""

    min_test_accuracy: float = 0.8
    min_test_accuracy_by_variant: dict[str, float] = dataclasses.field(default_factory=dict)
    max_tflite_accuracy_drop: float = 0.005
    max_quantized_accuracy_drop: float = 0.005
    min_tflite_agreement: float = 0.999
    max_tflite_size_bytes: int = 5_000_000
    max_int8_size_ratio: float = 0.3
    max_regression: float = 0.005

    def __post_init__(self) -> None:
        bounds = {"min_test_accuracy": self.min_test_accuracy} | {
            f"min_test_accuracy_by_variant.{name}": value for name, value in self.min_test_accuracy_by_variant.items()
        }
        for key, value in bounds.items():
            _require(0 <= value <= 1, f"gate.{key}", "must be an accuracy between 0 and 1")
        for key in ("max_tflite_accuracy_drop", "max_quantized_accuracy_drop", "min_tflite_agreement"):
            _require(0 <= getattr(self, key) <= 1, f"gate.{key}", "must be between 0 and 1")
        _require(0 < self.max_int8_size_ratio <= 1, "gate.max_int8_size_ratio", "must be in (0, 1]")
        _require(self.max_tflite_size_bytes > 0, "gate.max_tflite_size_bytes", "must be positive")
        _require(0 <= self.max_regression <= 1, "gate.max_regression", "must be between 0 and 1")


@dataclass(frozen=True)
class Params:
    """The whole of `params.yaml`."""

    seed: int
    threads: int
    data: DataParams
    variants: dict[str, VariantParams]
    tracking: TrackingParams = TrackingParams()
    export: ExportParams = ExportParams()
    compare: CompareParams = CompareParams()
    gate: GateParams = GateParams()

    def __post_init__(self) -> None:
        _require(self.seed >= 0, "seed", "must be at least 0")
        _require(self.threads >= 1, "threads", "must be at least 1")
        _require(bool(self.variants), "variants", "must declare at least one variant")
        for name, spec in self.variants.items():
            _validate_variant(name, spec)
        for name in self.gate.min_test_accuracy_by_variant:
            _require(name in self.variants, f"gate.min_test_accuracy_by_variant.{name}", "names no variant")

    def variant(self, name: str) -> VariantParams:
        """The named variant's spec; an unknown name is an error that lists the known ones."""
        if name not in self.variants:
            known = ", ".join(self.variants)
            hint = did_you_mean(name, self.variants)
            raise PipelineError(f"params.yaml: variants.{name}: no such variant{hint} (known: {known})")
        return self.variants[name]


def _validate_variant(name: str, spec: VariantParams) -> None:
    key = f"variants.{name}"
    _require_choice(spec.model, MODEL_TYPES, f"{key}.model")
    _require(0 <= spec.dropout < 1, f"{key}.dropout", "must be in [0, 1)")
    _require(all(units >= 1 for units in spec.hidden_units), f"{key}.hidden_units", "must be positive")
    _require(all(f >= 1 for f in spec.filters), f"{key}.filters", "must be positive")
    _require(spec.epochs >= 1, f"{key}.epochs", "must be at least 1")
    _require(spec.batch_size >= 1, f"{key}.batch_size", "must be at least 1")
    _require(spec.learning_rate > 0, f"{key}.learning_rate", "must be positive")
    _require_choice(spec.precision, PRECISIONS, f"{key}.precision")
    _require_choice(spec.lr_schedule, LR_SCHEDULES, f"{key}.lr_schedule")
    _require_choice(spec.loss, LOSSES, f"{key}.loss")
    _require_choice(spec.loop, LOOPS, f"{key}.loop")
    if spec.early_stopping:
        _require_choice(spec.early_stopping.monitor, MONITORS, f"{key}.early_stopping.monitor")
        _require(spec.early_stopping.patience >= 1, f"{key}.early_stopping.patience", "must be at least 1")
    if spec.stop_at:
        _require_choice(spec.stop_at.monitor, MONITORS, f"{key}.stop_at.monitor")
    for transform in ("rotation", "zoom", "translation"):
        _require(0 <= getattr(spec.augment, transform) < 1, f"{key}.augment.{transform}", "must be in [0, 1)")


def _convert(value: Any, hint: Any, key: str) -> Any:
    """Check `value` against a type hint and convert it (lists to tuples, dicts to dataclasses)."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in typing.get_args(hint):
            return None
        (inner,) = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        return _convert(value, inner, key)
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, key)
    if origin is dict:
        _expect(isinstance(value, dict), key, "a mapping", value)
        for name in value:
            _expect(isinstance(name, str), f"{key}.{name}", "a name as the key", name)
        _, value_hint = typing.get_args(hint)
        return {name: _convert(item, value_hint, f"{key}.{name}") for name, item in value.items()}
    if origin is tuple:
        _expect(isinstance(value, list), key, "a list", value)
        (item_hint, _) = typing.get_args(hint)
        return tuple(_convert(item, item_hint, f"{key}[{i}]") for i, item in enumerate(value))
    note = _number_note(value) if hint in (int, float) else ""
    if hint is float:
        _expect(isinstance(value, (int, float)) and not isinstance(value, bool), key, "a number", value, note)
        return float(value)
    _expect(isinstance(value, hint) and not (hint is int and isinstance(value, bool)), key, hint.__name__, value, note)
    return value


def _expect(condition: bool, key: str, expected: str, value: Any, note: str = "") -> None:
    if not condition:
        raise PipelineError(f"params.yaml: {key}: expected {expected}, got {_shown(value)}{note}")


def _shown(value: Any) -> str:
    """The value as YAML gave it, cut short so the error stays one readable line."""
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:57]}..."


def _number_note(value: Any) -> str:
    """How to write a number YAML read as text: PyYAML reads YAML 1.1, where `1e-3` is a string
    (a float needs a dot and a signed exponent), and a quoted number is a string anyway."""
    try:
        number = Decimal(value) if isinstance(value, str) else None
    except InvalidOperation:
        return ""
    written = f"{number:f}" if number is not None and number.is_finite() else ""
    return f" (YAML reads it as text; write {written})" if 0 < len(written) <= 24 else ""


def _required_keys(cls: type) -> list[str]:
    """The fields of dataclass `cls` without a default: keys params.yaml must give."""
    return [
        field.name
        for field in dataclasses.fields(cls)
        if field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING
    ]


def _build(cls: type, mapping: Any, key: str) -> Any:
    """Build dataclass `cls` from a mapping, refusing unknown and missing keys by name."""
    where = f"{key}." if key else ""
    _expect(isinstance(mapping, dict), key, "a mapping", mapping)
    fields = {field.name: field for field in dataclasses.fields(cls)}
    unknown = [name for name in mapping if name not in fields]
    if unknown:
        hint = did_you_mean(unknown[0], fields)
        raise PipelineError(f"params.yaml: {where}{unknown[0]}: unknown key{hint} (known: {', '.join(fields)})")
    hints = typing.get_type_hints(cls)
    required = _required_keys(cls)
    values = {}
    for name in fields:
        if name not in mapping and name in required:
            raise PipelineError(f"params.yaml: {where}{name}: missing")
        if name in mapping:
            values[name] = _convert(mapping[name], hints[name], f"{where}{name}")
    return cls(**values)


def parse_params(raw: Any) -> Params:
    """Validate the loaded contents of `params.yaml`."""
    required = ", ".join(_required_keys(Params))
    if raw is None:
        raise PipelineError(f"params.yaml: empty; expected a mapping with at least {required}")
    if not isinstance(raw, dict):
        raise PipelineError(f"params.yaml: expected a mapping with at least {required}, got {_shown(raw)}")
    return _build(Params, raw, "")


def load_params(path: Path = PARAMS_FILE) -> Params:
    """Read and validate `params.yaml`; any problem is a one-line PipelineError naming the key."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise PipelineError(f"cannot read {path}: {error.strerror}") from error
    except UnicodeDecodeError as error:
        raise PipelineError(f"cannot read {path}: not UTF-8 text (byte {error.start})") from error
    except yaml.YAMLError as error:
        raise PipelineError(f"{path.name} is not valid YAML: {_yaml_problem(error)}") from error
    try:
        return parse_params(raw)
    except PipelineError as error:
        if path.name == PARAMS_FILE.name:
            raise
        raise PipelineError(f"{path.name}: {str(error).removeprefix('params.yaml: ')}") from None


def _yaml_problem(error: yaml.YAMLError) -> str:
    """PyYAML's complaint and where, without its multi-line excerpt of the file."""
    problem = getattr(error, "problem", None) or str(error)
    mark = getattr(error, "problem_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    return " ".join(f"{problem}{where}".split())


def main() -> None:
    parser = argparse.ArgumentParser(description="Validate params.yaml without running any stage.")
    parser.add_argument("--check", action="store_true", help="validate the file: exit 0 when valid, 2 when not")
    parser.add_argument("--params", type=Path, metavar="PATH", help="the file to check (default: params.yaml)")
    args = parser.parse_args()
    if not args.check:
        parser.error("nothing to do: pass --check")
    params = load_params(args.params or PARAMS_FILE)
    count = len(params.variants)
    names = ", ".join(params.variants)
    print(f"{args.params or PARAMS_FILE.name} is valid: {count} variant{'' if count == 1 else 's'} ({names})")


if __name__ == "__main__":
    cli.run(main)
