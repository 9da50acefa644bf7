"""The project's paths and the typed, validated view of `params.yaml`, defined once.

Every stage imports its paths and parameters from here, so a renamed folder or a
mistyped key is fixed in one place and reported the same way everywhere.
"""

import dataclasses
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from pipeline.cli import PipelineError

ROOT = Path(__file__).resolve().parent.parent
PARAMS_FILE = ROOT / "params.yaml"
RAW_DIR = ROOT / "data" / "raw"
PREPARED_DIR = ROOT / "data" / "prepared"
MODELS_DIR = ROOT / "models"
REPORTS_DIR = ROOT / "reports"
DATA_REPORTS_DIR = REPORTS_DIR / "data"
VARIANT_REPORTS_DIR = REPORTS_DIR / "variants"
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
IMAGE_SHAPE = (28, 28)
SPLITS = ("train", "val", "test")
MODEL_TYPES = ("mlp", "cnn")
LR_SCHEDULES = ("constant", "cosine")
PRECISIONS = ("float32", "mixed_bfloat16")
# Comparison columns a best variant can be picked by; the first four are costs (lower is better).
LOWER_IS_BETTER = ("test_loss", "train_test_gap", "tflite_size_bytes", "train_seconds")
COMPARABLE_METRICS = (*LOWER_IS_BETTER, "val_accuracy", "test_accuracy", "tflite_accuracy")
COMPARISON = {suffix: REPORTS_DIR / f"comparison.{suffix}" for suffix in ("md", "json", "png")}


def _require(condition: bool, key: str, rule: str) -> None:
    if not condition:
        raise PipelineError(f"params.yaml: {key}: {rule}")


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

    @property
    def tflite(self) -> Path:
        return self.model_dir / "model.tflite"

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


@dataclass(frozen=True)
class DataParams:
    """How the dataset is fetched and split."""

    source_dir: str | None = None
    val_fraction: float = 0.1
    limit: int | None = None

    def __post_init__(self) -> None:
        _require(0 < self.val_fraction < 1, "data.val_fraction", "must be between 0 and 1 (exclusive)")
        _require(self.limit is None or self.limit >= 100, "data.limit", "must be null or at least 100")


@dataclass(frozen=True)
class VariantParams:
    """One model variant: its architecture and how it is trained."""

    model: str
    dropout: float = 0.0
    hidden_units: int = 128
    filters: tuple[int, ...] = (32, 64)
    batch_norm: bool = False
    epochs: int = 10
    batch_size: int = 64
    learning_rate: float = 0.001
    lr_schedule: str = "constant"
    precision: str = "float32"


@dataclass(frozen=True)
class TrackingParams:
    """MLflow settings; the tracking URI itself comes from the environment or the default."""

    experiment: str = "fashion-mnist"


@dataclass(frozen=True)
class CompareParams:
    """How the compare stage picks the best variant."""

    best_by: str = "test_accuracy"

    def __post_init__(self) -> None:
        choices = ", ".join(COMPARABLE_METRICS)
        _require(self.best_by in COMPARABLE_METRICS, "compare.best_by", f"must be one of {choices}")


@dataclass(frozen=True)
class GateParams:
    """The bounds `python -m pipeline.check` holds every variant to."""

    min_test_accuracy: float = 0.8
    min_test_accuracy_by_variant: dict[str, float] = dataclasses.field(default_factory=dict)
    max_tflite_accuracy_drop: float = 0.005
    max_tflite_size_bytes: int = 5_000_000
    max_regression: float = 0.005

    def __post_init__(self) -> None:
        bounds = {"min_test_accuracy": self.min_test_accuracy} | {
            f"min_test_accuracy_by_variant.{name}": value for name, value in self.min_test_accuracy_by_variant.items()
        }
        for key, value in bounds.items():
            _require(0 <= value <= 1, f"gate.{key}", "must be an accuracy between 0 and 1")
        _require(0 <= self.max_tflite_accuracy_drop <= 1, "gate.max_tflite_accuracy_drop", "must be between 0 and 1")
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
            raise PipelineError(f"params.yaml: variants.{name}: no such variant (known: {known})")
        return self.variants[name]


def _validate_variant(name: str, spec: VariantParams) -> None:
    key = f"variants.{name}"
    _require(spec.model in MODEL_TYPES, f"{key}.model", f"must be one of {', '.join(MODEL_TYPES)}")
    _require(0 <= spec.dropout < 1, f"{key}.dropout", "must be in [0, 1)")
    _require(spec.hidden_units >= 1, f"{key}.hidden_units", "must be at least 1")
    _require(all(f >= 1 for f in spec.filters), f"{key}.filters", "must be positive")
    _require(spec.epochs >= 1, f"{key}.epochs", "must be at least 1")
    _require(spec.batch_size >= 1, f"{key}.batch_size", "must be at least 1")
    _require(spec.learning_rate > 0, f"{key}.learning_rate", "must be positive")
    _require(spec.precision in PRECISIONS, f"{key}.precision", f"must be one of {', '.join(PRECISIONS)}")
    _require(spec.lr_schedule in LR_SCHEDULES, f"{key}.lr_schedule", f"must be one of {', '.join(LR_SCHEDULES)}")


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
        _, value_hint = typing.get_args(hint)
        return {name: _convert(item, value_hint, f"{key}.{name}") for name, item in value.items()}
    if origin is tuple:
        _expect(isinstance(value, list), key, "a list", value)
        (item_hint, _) = typing.get_args(hint)
        return tuple(_convert(item, item_hint, f"{key}[{i}]") for i, item in enumerate(value))
    if hint is float:
        _expect(isinstance(value, (int, float)) and not isinstance(value, bool), key, "a number", value)
        return float(value)
    _expect(isinstance(value, hint) and not (hint is int and isinstance(value, bool)), key, hint.__name__, value)
    return value


def _expect(condition: bool, key: str, expected: str, value: Any) -> None:
    if not condition:
        raise PipelineError(f"params.yaml: {key}: expected {expected}, got {value!r}")


def _build(cls: type, mapping: Any, key: str) -> Any:
    """Build dataclass `cls` from a mapping, refusing unknown and missing keys by name."""
    where = f"{key}." if key else ""
    _expect(isinstance(mapping, dict), key or "params.yaml", "a mapping", mapping)
    fields = {field.name: field for field in dataclasses.fields(cls)}
    unknown = sorted(set(mapping) - set(fields))
    if unknown:
        raise PipelineError(f"params.yaml: {where}{unknown[0]}: unknown key (known: {', '.join(fields)})")
    hints = typing.get_type_hints(cls)
    values = {}
    for name, field in fields.items():
        has_default = field.default is not dataclasses.MISSING or field.default_factory is not dataclasses.MISSING
        if name not in mapping and not has_default:
            raise PipelineError(f"params.yaml: {where}{name}: missing")
        if name in mapping:
            values[name] = _convert(mapping[name], hints[name], f"{where}{name}")
    return cls(**values)


def parse_params(raw: Any) -> Params:
    """Validate the loaded contents of `params.yaml`."""
    return _build(Params, raw, "")


def load_params(path: Path = PARAMS_FILE) -> Params:
    """Read and validate `params.yaml`; any problem is a PipelineError naming the key."""
    try:
        raw = yaml.safe_load(path.read_text())
    except OSError as error:
        raise PipelineError(f"cannot read {path}: {error.strerror}") from error
    except yaml.YAMLError as error:
        raise PipelineError(f"{path.name} is not valid YAML: {error}".replace("\n", " ")) from error
    return parse_params(raw)
