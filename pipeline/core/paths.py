"""Where the project's files are, built from the repository root and defined once: `dvc.yaml`
declares the same paths."""

from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # pipeline/core/paths.py
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
# The code that turns params and data into a model (each a dep of dvc.yaml's train stage): seeds trained by
# other code are another recipe.
TRAINING_CODE = tuple(
    ROOT / "pipeline" / name
    for name in (
        "train.py",
        "training/architectures.py",
        "training/callbacks.py",
        "training/cpu.py",
        "training/loop.py",
    )
)
SYSTEM_DATA_DIR = Path("/usr/share/datasets/fashion-mnist")
DATA_DIR_ENV = "FASHION_MNIST_DIR"

LABELS_FILE_NAME = "labels.txt"
COMPARISON = {suffix: REPORTS_DIR / f"comparison.{suffix}" for suffix in ("md", "json", "png")}
HEADLINE_METRICS = REPORTS_DIR / "metrics.json"  # per variant, over its seeds: what `dvc metrics show` lists
CURVES = REPORTS_DIR / "curves.csv"  # every variant's and seed's history, long form: dvc.yaml's overlay plots
# What export writes per variant: float32, dynamic-range (int8 weights), float16 weights, and
# full-integer int8 (int8 weights, activations, input and output).
TFLITE_FLAVOURS = ("float32", "dynamic_range", "float16", "int8")
QUANTIZED_FLAVOURS = TFLITE_FLAVOURS[1:]
APP_FLAVOURS = ("float32", "int8")  # the two builds of model_app.tflite; one is shipped


def split_path(split: str) -> Path:
    """The prepared `.npz` file of one split."""
    return PREPARED_DIR / f"{split}.npz"


@dataclass(frozen=True)
class VariantPaths:
    """Where a variant's export writes (the shipped seed's model as `.tflite` files), and where each of
    its seeds' stages write (`seed(n)`); `dvc.yaml` declares the same paths."""

    name: str

    @property
    def model_dir(self) -> Path:
        return MODELS_DIR / self.name

    @property
    def reports_dir(self) -> Path:
        return VARIANT_REPORTS_DIR / self.name

    def seed(self, seed: int) -> "SeedPaths":
        return SeedPaths(self.name, seed)

    def tflite(self, flavour: str = "float32") -> Path:
        """The exported file of one of TFLITE_FLAVOURS; the float32 one is plain `model.tflite`."""
        suffix = "" if flavour == "float32" else f"_{flavour}"
        return self.model_dir / f"model{suffix}.tflite"

    @property
    def app_tflite(self) -> Path:
        """The app flavour, for MediaPipe's ImageClassifier: RGB in, scores out, labels in its metadata."""
        return self.model_dir / "model_app.tflite"

    @property
    def tflite_metrics(self) -> Path:
        return self.reports_dir / "tflite.json"

    @property
    def labels(self) -> Path:
        """The class names, one a line in output order, as TFLite apps ship them beside the model."""
        return self.model_dir / LABELS_FILE_NAME


@dataclass(frozen=True)
class SeedPaths:
    """Where one variant trained with one seed is written (train and evaluate); `dvc.yaml` declares them."""

    name: str
    seed: int

    @property
    def model_dir(self) -> Path:
        return MODELS_DIR / self.name / f"seed-{self.seed}"

    @property
    def reports_dir(self) -> Path:
        return VARIANT_REPORTS_DIR / self.name / f"seed-{self.seed}"

    @property
    def model(self) -> Path:
        return self.model_dir / "model.keras"

    @property
    def run_file(self) -> Path:
        return self.model_dir / "mlflow_run.json"

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
        """The headline: test, validation and train accuracy, test loss (per-class scores: `scores`)."""
        return self.reports_dir / "metrics.json"

    @property
    def scores(self) -> Path:
        """Per-class precision, recall and F1 on the test set."""
        return self.reports_dir / "per_class.json"

    @property
    def predictions(self) -> Path:
        """The predicted class of every test image, in the test set's order: the paired tests' input."""
        return self.reports_dir / "predictions.csv"

    @property
    def confusion_png(self) -> Path:
        return self.reports_dir / "confusion.png"

    @property
    def predictions_png(self) -> Path:
        return self.reports_dir / "predictions.png"
