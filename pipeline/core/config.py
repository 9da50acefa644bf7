"""The typed, validated view of `params.yaml`, defined once: every stage reads its parameters from
here, so a mistyped key is reported the same way everywhere (the checks are in `schema`)."""

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.core.errors import PipelineError
from pipeline.core.paths import PARAMS_FILE, ROOT
from pipeline.core.schema import build, did_you_mean, read_yaml, require, require_choice, required_keys, shown
from pipeline.data.dataset_info import DATASETS

COLOR_MODES = ("rgb", "grayscale")
MODEL_TYPES = ("mlp", "cnn")
LR_SCHEDULES = ("constant", "cosine")
# auto: mixed_bfloat16 where the CPU runs bfloat16 natively (pipeline/training/cpu.py), float32 elsewhere
PRECISIONS = ("auto", "float32", "mixed_bfloat16")
LOOPS = ("fit", "custom")  # Keras fit, or the tutorials' tf.GradientTape loop
MONITORS = ("loss", "accuracy", "val_loss", "val_accuracy")  # what each epoch records
LOSSES = ("cross_entropy", "mse")  # sparse cross-entropy from logits; mean squared error on one-hot labels
# What an effect's pair of variants may differ in: the factor's own fields, nothing of the recipe.
ARCHITECTURE_FIELDS = ("model", "hidden_units", "filters", "batch_norm")
FACTOR_FIELDS = {"dropout": ("dropout",), "model": ARCHITECTURE_FIELDS, "augment": ("augment",)}
# Comparison columns a best variant can be picked by; the first four are costs (lower is better).
LOWER_IS_BETTER = ("test_loss", "train_test_gap", "tflite_size_bytes", "train_seconds")
COMPARABLE_METRICS = (*LOWER_IS_BETTER, "val_accuracy", "test_accuracy", "tflite_accuracy")


@dataclass(frozen=True)
class ImageFolderParams:
    """A folder of your own images, one subfolder per class (the flowers tutorial's layout)."""

    directory: str | None = None  # relative paths are relative to the repository root
    image_size: tuple[int, ...] = (64, 64)  # [height, width] every image is resized to
    color_mode: str = "rgb"
    test_fraction: float = 0.2  # stratified share held out as the test set

    def __post_init__(self) -> None:
        key = "data.image_folder"
        require(len(self.image_size) == 2 and min(self.image_size) >= 1, f"{key}.image_size", "must be [height, width]")
        require_choice(self.color_mode, COLOR_MODES, f"{key}.color_mode")
        require(0 < self.test_fraction < 1, f"{key}.test_fraction", "must be between 0 and 1 (exclusive)")

    @property
    def path(self) -> Path:
        """The directory, `~` expanded, relative to the repository root unless absolute."""
        return ROOT / Path(self.directory or "").expanduser()


@dataclass(frozen=True)
class DataParams:
    """Which dataset, and how it is fetched and split."""

    dataset: str = "fashion_mnist"
    source_dir: str | None = None
    val_fraction: float = 0.1
    limit: int | None = None
    image_folder: ImageFolderParams = ImageFolderParams()

    def __post_init__(self) -> None:
        require_choice(self.dataset, DATASETS, "data.dataset")
        require(0 < self.val_fraction < 1, "data.val_fraction", "must be between 0 and 1 (exclusive)")
        require(self.limit is None or self.limit >= 100, "data.limit", "must be null or at least 100")
        if self.dataset == "image_folder":
            require(
                bool(self.image_folder.directory),
                "data.image_folder.directory",
                "must name the folder of images (one subfolder per class) when data.dataset is image_folder",
            )
            require(
                self.image_folder.test_fraction + self.val_fraction < 1,
                "data.image_folder.test_fraction",
                "plus data.val_fraction must leave some images for training (sum below 1)",
            )


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
    """MLflow settings; the tracking URI itself comes from the environment or the default. Left null,
    the experiment and the registered model are named after the dataset (`Params.experiment`)."""

    experiment: str | None = None
    registered_model: str | None = None  # compare registers the best variant's model under it

    def __post_init__(self) -> None:
        require(self.experiment is None or bool(self.experiment.strip()), "tracking.experiment", "must not be empty")
        require(
            self.registered_model is None
            or (bool(self.registered_model.strip()) and not set("/:'") & set(self.registered_model)),
            "tracking.registered_model",
            "must be a name without '/', ':' or quotes",
        )


@dataclass(frozen=True)
class AppParams:
    """The app flavour, `model_app.tflite` (pipeline/on_device/app_model.py), and how it is measured: LiteRT
    runs it on the test images as RGB, MediaPipe on a stratified sample of them."""

    input_size: int = 224  # the side of the RGB images it takes (MediaPipe resizes camera frames to it)
    photo_size: int = 320  # the side of the photo-like test images
    calibration_images: int = 300  # training images that calibrate its int8 build
    max_int8_accuracy_drop: float = 0.005  # int8 is shipped when it loses at most this against float32
    test_images: int | None = None  # test images measured (LiteRT: RGB accuracy, agreement); null: all of them
    mediapipe_images: int = 1000  # of those, a stratified sample MediaPipe classifies per set and build

    def __post_init__(self) -> None:
        key = "export.app"
        require(self.input_size >= 28, f"{key}.input_size", "must be at least 28")
        require(self.photo_size >= 28, f"{key}.photo_size", "must be at least 28")
        require(self.calibration_images >= 10, f"{key}.calibration_images", "must be at least 10")
        require(0 <= self.max_int8_accuracy_drop <= 1, f"{key}.max_int8_accuracy_drop", "must be between 0 and 1")
        require(self.test_images is None or self.test_images >= 20, f"{key}.test_images", "must be null or >= 20")
        require(self.mediapipe_images >= 20, f"{key}.mediapipe_images", "must be at least 20")


@dataclass(frozen=True)
class ExportParams:
    """How the exported `.tflite` files are calibrated and measured."""

    representative_images: int = 500  # training images that calibrate the int8 file's activations
    latency_runs: int = 200  # single-image calls timed per file (median and p95)
    throughput_batch: int = 256  # the batch size images/s is measured at
    app: AppParams = AppParams()

    def __post_init__(self) -> None:
        require(self.representative_images >= 10, "export.representative_images", "must be at least 10")
        require(self.latency_runs >= 20, "export.latency_runs", "must be at least 20")
        require(self.throughput_batch >= 1, "export.throughput_batch", "must be at least 1")


@dataclass(frozen=True)
class CompareParams:
    """How the compare stage picks the best variant, and which pairs of variants measure an effect."""

    best_by: str = "test_accuracy"
    # factor -> [[without, with], ...]: each pair must differ in that factor alone (FACTOR_FIELDS)
    effects: dict[str, tuple[tuple[str, ...], ...]] = dataclasses.field(default_factory=dict)
    confidence: float = 0.95  # of the intervals the report gives

    def __post_init__(self) -> None:
        require_choice(self.best_by, COMPARABLE_METRICS, "compare.best_by")
        require(0.5 <= self.confidence < 1, "compare.confidence", "must be in [0.5, 1)")
        for factor, pairs in self.effects.items():
            require_choice(factor, tuple(FACTOR_FIELDS), f"compare.effects.{factor}")
            for i, pair in enumerate(pairs):
                require(
                    len(pair) == 2 and pair[0] != pair[1],
                    f"compare.effects.{factor}[{i}]",
                    "must be [baseline, changed]: two different variants",
                )


@dataclass(frozen=True)
class GateParams:
    """The bounds the merge gate, `python -m pipeline.gate`, holds every variant to."""

    min_test_accuracy: float = 0.8
    min_test_accuracy_by_variant: dict[str, float] = dataclasses.field(default_factory=dict)
    max_tflite_accuracy_drop: float = 0.005
    max_quantized_accuracy_drop: float = 0.005
    min_tflite_agreement: float = 0.999
    max_tflite_size_bytes: int = 5_000_000
    max_int8_size_ratio: float = 0.3
    max_app_accuracy_drop: float = 0.005
    max_regression: float = 0.005

    def __post_init__(self) -> None:
        bounds = {"min_test_accuracy": self.min_test_accuracy} | {
            f"min_test_accuracy_by_variant.{name}": value for name, value in self.min_test_accuracy_by_variant.items()
        }
        for key, value in bounds.items():
            require(0 <= value <= 1, f"gate.{key}", "must be an accuracy between 0 and 1")
        for key in (
            "max_tflite_accuracy_drop",
            "max_quantized_accuracy_drop",
            "max_app_accuracy_drop",
            "min_tflite_agreement",
        ):
            require(0 <= getattr(self, key) <= 1, f"gate.{key}", "must be between 0 and 1")
        require(0 < self.max_int8_size_ratio <= 1, "gate.max_int8_size_ratio", "must be in (0, 1]")
        require(self.max_tflite_size_bytes > 0, "gate.max_tflite_size_bytes", "must be positive")
        require(0 <= self.max_regression <= 1, "gate.max_regression", "must be between 0 and 1")


@dataclass(frozen=True)
class Params:
    """The whole of `params.yaml`."""

    seed: int
    seeds: tuple[int, ...]
    threads: int
    data: DataParams
    run_variants: tuple[str, ...]
    variants: dict[str, VariantParams]
    tracking: TrackingParams = TrackingParams()
    export: ExportParams = ExportParams()
    compare: CompareParams = CompareParams()
    gate: GateParams = GateParams()

    def __post_init__(self) -> None:
        require(self.seed >= 0, "seed", "must be at least 0")
        require(bool(self.seeds), "seeds", "must list at least one training seed")
        require(all(0 <= seed < 2**32 for seed in self.seeds), "seeds", "must be between 0 and 2**32 - 1")
        require(len(set(self.seeds)) == len(self.seeds), "seeds", "must not repeat a seed")
        require(self.threads >= 1, "threads", "must be at least 1")
        require(bool(self.variants), "variants", "must declare at least one variant")
        for name, spec in self.variants.items():
            _validate_variant(name, spec)
        require(bool(self.run_variants), "run_variants", "must name at least one variant")
        require(len(set(self.run_variants)) == len(self.run_variants), "run_variants", "must not repeat a variant")
        for name in self.run_variants:
            self.variant(name, key="run_variants")
        for name in self.gate.min_test_accuracy_by_variant:
            require(name in self.variants, f"gate.min_test_accuracy_by_variant.{name}", "names no variant")
        for factor, pairs in self.compare.effects.items():
            for i, pair in enumerate(pairs):
                for name in pair:
                    self.variant(name, key=f"compare.effects.{factor}[{i}]")
        if not self.tracking.experiment and self.data.dataset == "image_folder":
            require(
                not set("/:'\"") & set(self.experiment),
                "data.image_folder.directory",
                f"its folder's name {self.experiment!r} names the MLflow experiment and registered model, and "
                "must not hold '/', ':' or quotes: rename the folder or set tracking.experiment",
            )

    @property
    def selected(self) -> dict[str, VariantParams]:
        """The variants `dvc repro` trains (`run_variants`), in that order."""
        return {name: self.variants[name] for name in self.run_variants}

    @property
    def shipped_seed(self) -> int:
        """The seed whose model of each variant export ships and measures, and compare registers: the
        first of `seeds`, fixed before any result is seen (picking the best seed would pick test noise)."""
        return self.seeds[0]

    @property
    def experiment(self) -> str:
        """The MLflow experiment: `tracking.experiment`, or the dataset's name (an image folder's own)."""
        if self.tracking.experiment:
            return self.tracking.experiment
        if self.data.dataset == "image_folder":
            return self.data.image_folder.path.resolve().name
        return self.data.dataset.replace("_", "-")

    @property
    def registered_model(self) -> str:
        """The registered model: `tracking.registered_model`, or `<experiment>-classifier`."""
        return self.tracking.registered_model or f"{self.experiment}-classifier"

    def variant(self, name: str, key: str = "variants") -> VariantParams:
        """The named variant's spec; an unknown name is an error that lists the known ones."""
        if name not in self.variants:
            known = ", ".join(self.variants)
            hint = did_you_mean(name, self.variants)
            where = f"variants.{name}" if key == "variants" else f"{key}: {name}"
            raise PipelineError(f"params.yaml: {where}: no such variant{hint} (known: {known})")
        return self.variants[name]


def confounders(first: VariantParams, second: VariantParams, factor: str) -> list[str]:
    """The fields besides `factor`'s own in which two variants differ: what would confound its effect."""
    allowed = FACTOR_FIELDS[factor]
    return [
        field.name
        for field in dataclasses.fields(VariantParams)
        if field.name not in allowed and getattr(first, field.name) != getattr(second, field.name)
    ]


def _validate_variant(name: str, spec: VariantParams) -> None:
    key = f"variants.{name}"
    require_choice(spec.model, MODEL_TYPES, f"{key}.model")
    require(0 <= spec.dropout < 1, f"{key}.dropout", "must be in [0, 1)")
    require(all(units >= 1 for units in spec.hidden_units), f"{key}.hidden_units", "must be positive")
    require(all(f >= 1 for f in spec.filters), f"{key}.filters", "must be positive")
    require(spec.epochs >= 1, f"{key}.epochs", "must be at least 1")
    require(spec.batch_size >= 1, f"{key}.batch_size", "must be at least 1")
    require(spec.learning_rate > 0, f"{key}.learning_rate", "must be positive")
    require_choice(spec.precision, PRECISIONS, f"{key}.precision")
    require_choice(spec.lr_schedule, LR_SCHEDULES, f"{key}.lr_schedule")
    require_choice(spec.loss, LOSSES, f"{key}.loss")
    require_choice(spec.loop, LOOPS, f"{key}.loop")
    if spec.early_stopping:
        require_choice(spec.early_stopping.monitor, MONITORS, f"{key}.early_stopping.monitor")
        require(spec.early_stopping.patience >= 1, f"{key}.early_stopping.patience", "must be at least 1")
    if spec.stop_at:
        require_choice(spec.stop_at.monitor, MONITORS, f"{key}.stop_at.monitor")
    for transform in ("rotation", "zoom", "translation"):
        require(0 <= getattr(spec.augment, transform) < 1, f"{key}.augment.{transform}", "must be in [0, 1)")


def parse_params(raw: Any) -> Params:
    """Validate the loaded contents of `params.yaml`."""
    required = ", ".join(required_keys(Params))
    if raw is None:
        raise PipelineError(f"params.yaml: empty; expected a mapping with at least {required}")
    if not isinstance(raw, dict):
        raise PipelineError(f"params.yaml: expected a mapping with at least {required}, got {shown(raw)}")
    return build(Params, raw, "")


def load_params(path: Path = PARAMS_FILE) -> Params:
    """Read and validate `params.yaml`; any problem is a one-line PipelineError naming the key."""
    raw = read_yaml(path)
    try:
        return parse_params(raw)
    except PipelineError as error:
        if path.name == PARAMS_FILE.name:
            raise
        raise PipelineError(f"{path.name}: {str(error).removeprefix('params.yaml: ')}") from None
