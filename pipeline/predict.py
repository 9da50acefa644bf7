"""Classify your own images: `python -m pipeline.predict IMAGE [IMAGE ...] [--model PATH] [--top K] [--json]`.

Each image (PNG, JPEG, anything Pillow opens) is made into what the model was trained on. For a
model of 28×28 grey images (Fashion-MNIST, MNIST), the way Fashion-MNIST's images were made from
product photos: grayscale, light garment on black, background margin trimmed, longest side scaled
to 28 pixels and centered on a 28×28 canvas. For any other input shape (a folder of your own
images), converted to the model's channels (L or RGB) and resized to its height×width.
The model is a `.tflite` file (run with LiteRT: no TensorFlow import, fast) or a `.keras` file;
by default the best variant's float32 `.tflite`, as named in `reports/comparison.json`. The class
names come from `labels.txt` beside the model (the export stage writes it), else from the prepared
dataset (`data/prepared/dataset.json`), else they are Fashion-MNIST's.
"""

import argparse
import json
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter, ImageOps

from pipeline import cli, config, litert
from pipeline.artifacts import read_json
from pipeline.cli import PipelineError

WHITE = 255.0
# Grey levels by which a pixel must differ from the background to count as garment when trimming:
# Fashion-MNIST trimmed edges within 5% of the maximum intensity of the corner colour.
TRIM_TOLERANCE = 0.05 * WHITE
# A background is uniform when at least this share of the border is within TRIM_TOLERANCE of its median.
UNIFORM_SHARE = 0.5
NOISE_SIGMAS = 4  # on a noisy background, garment is this many standard deviations above it
MAD_TO_SIGMA = 1.4826  # the standard deviation of normal noise over its median absolute deviation
WORKING_SIZE = 1024
# Models of 28×28 grey images get Fashion-MNIST's preparation; others are resized to their input.
FASHION_MNIST_INPUT_SHAPES = (config.IMAGE_SHAPE, (*config.IMAGE_SHAPE, 1))
DEFAULT_TOP = 3

Logits = Callable[[np.ndarray], np.ndarray]


# --- Image to model input ---------------------------------------------------------------------------


def _upright_on_white(image: Image.Image) -> Image.Image:
    """The picture upright as the camera held it, transparent parts on white, 16-bit grey levels scaled to 0-255."""
    image = ImageOps.exif_transpose(image)
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        image = Image.alpha_composite(Image.new("RGBA", image.size, "white"), image.convert("RGBA"))
    if image.mode.startswith("I") and np.asarray(image).max() > WHITE:  # 16-bit grey levels
        image = Image.fromarray(np.asarray(image, np.float32) * np.float32(WHITE / 65535))
    return image


def _grayscale(image: Image.Image) -> np.ndarray:
    """Grey levels 0-255 as float32, upright, transparent parts on white, at most WORKING_SIZE pixels
    on a side (a phone photo's megapixels only slow the trimming down)."""
    image = _upright_on_white(image).convert("L")
    if max(image.size) > WORKING_SIZE:
        image = ImageOps.contain(image, (WORKING_SIZE, WORKING_SIZE), Image.Resampling.LANCZOS)
    return np.asarray(image, np.float32)


def _border(pixels: np.ndarray) -> np.ndarray:
    """The outermost pixels, once each."""
    return np.concatenate([pixels[0], pixels[-1], pixels[1:-1, 0], pixels[1:-1, -1]])


def _light_on_dark(pixels: np.ndarray) -> tuple[np.ndarray, float]:
    """Fashion-MNIST's look, light garment on black, and the background's noise in the result's grey levels.

    A light background (a product photo on white) is inverted. A uniform background then becomes
    black, so a photo on off-white or grey looks like one on white; its noise is the robust standard
    deviation of the border. A border that is mostly garment (it fills the frame) says nothing about
    the background: the levels are kept and the noise is 0.
    """
    border = _border(pixels)
    background = float(np.median(border))
    if background > WHITE / 2:
        pixels, border, background = WHITE - pixels, WHITE - border, WHITE - background
    deviation = np.abs(border - background)
    if np.mean(deviation <= TRIM_TOLERANCE) < UNIFORM_SHARE:
        return pixels, 0.0
    gain = WHITE / (WHITE - background)
    return np.clip((pixels - background) * gain, 0, WHITE), MAD_TO_SIGMA * float(np.median(deviation)) * gain


def _trim(pixels: np.ndarray, noise: float = 0.0) -> np.ndarray:
    """The smallest box holding all of the garment, on a black background; empty if there is none.

    Garment is what is brighter than TRIM_TOLERANCE or, on a noisy background, than NOISE_SIGMAS
    times the `noise`; there, lone specks (gone after a 3×3 median filter) do not count either.
    """
    tolerance = max(TRIM_TOLERANCE, NOISE_SIGMAS * noise)
    if noise > 0:
        pixels_seen = np.asarray(Image.fromarray(pixels.astype(np.float32)).filter(ImageFilter.MedianFilter(3)))
    else:
        pixels_seen = pixels
    rows, columns = np.nonzero(pixels_seen > tolerance)
    if len(rows) == 0:
        return pixels[:0, :0]
    return pixels[rows.min() : rows.max() + 1, columns.min() : columns.max() + 1]


def _fit(pixels: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """`pixels` scaled (Lanczos) so the longest side fills `shape`, centered on black."""
    canvas = np.zeros(shape, np.float32)
    if pixels.size == 0:
        return canvas
    scale = min(shape[0] / pixels.shape[0], shape[1] / pixels.shape[1])
    height, width = (max(1, round(side * scale)) for side in pixels.shape)
    if (height, width) != pixels.shape:
        resized = Image.fromarray(pixels.astype(np.float32)).resize((width, height), Image.Resampling.LANCZOS)
        pixels = np.clip(np.asarray(resized), 0, WHITE)
    # Fashion-MNIST puts an odd spare row or column above or left of the garment.
    top, left = (shape[0] - height + 1) // 2, (shape[1] - width + 1) // 2
    canvas[top : top + height, left : left + width] = pixels
    return canvas


def prepare_image(image: Image.Image) -> np.ndarray:
    """Any picture as the input of a model of 28×28 grey images (Fashion-MNIST, MNIST), made as
    Fashion-MNIST's images were: float32 pixels 0-255, shape (28, 28), light garment on black, its
    longest side filling the canvas, centered."""
    pixels, noise = _light_on_dark(_grayscale(image))
    return _fit(_trim(pixels, noise), config.IMAGE_SHAPE)


def resize_image(image: Image.Image, input_shape: tuple[int, ...]) -> np.ndarray:
    """Any picture as the input of a model trained on a folder of images: float32 pixels 0-255 of
    `input_shape` ((height, width) grey or (height, width, 3) RGB), upright, transparent parts on
    white, resized (bilinear, aspect ratio not kept) as Keras resized the training images."""
    height, width, *channels = input_shape
    image = _upright_on_white(image)
    if image.mode == "F" or image.mode.startswith("I"):
        image = image.convert("L")
    image = image.convert("RGB" if channels == [3] else "L").resize((width, height), Image.Resampling.BILINEAR)
    return np.asarray(image, np.float32).reshape(input_shape)


def prepare_for(image: Image.Image, input_shape: tuple[int, ...]) -> np.ndarray:
    """The picture as the input of a model taking `input_shape`: Fashion-MNIST's preparation for 28×28
    grey images, else resized to the model's height×width in its channels."""
    if tuple(input_shape) in FASHION_MNIST_INPUT_SHAPES:
        return prepare_image(image)
    return resize_image(image, tuple(input_shape))


def open_image(path: Path) -> Image.Image:
    """One image file, decoded; a PipelineError naming the file if it is not a readable image."""
    try:
        with Image.open(path) as image:
            image.load()
            return image
    except Image.UnidentifiedImageError as error:
        raise PipelineError(f"{path} is not an image (Pillow cannot identify it)") from error
    except OSError as error:
        if error.strerror:  # missing, a directory, no permission
            raise PipelineError(f"cannot read {path}: {error.strerror}") from error
        raise PipelineError(f"{path} is not a readable image: {error}") from error
    except (SyntaxError, ValueError, Image.DecompressionBombError) as error:
        raise PipelineError(f"{path} is not a readable image: {error}") from error


def read_image(path: Path, input_shape: tuple[int, ...] = config.IMAGE_SHAPE) -> np.ndarray:
    """One image file as the input of a model taking `input_shape` (by default Fashion-MNIST's)."""
    return prepare_for(open_image(path), input_shape)


def read_images(paths: list[Path], input_shape: tuple[int, ...] = config.IMAGE_SHAPE) -> np.ndarray:
    """Image files as one batch of model input, `[n, *input_shape]` float32."""
    return np.stack([read_image(path, input_shape) for path in paths])


# --- Models -----------------------------------------------------------------------------------------


def _shape_text(shape: tuple) -> str:
    return "[batch, " + ", ".join(str(size) for size in shape) + "]"


@dataclass(frozen=True)
class Labels:
    """The names of a model's outputs, in order, and where they come from. When they are a dataset's
    (no labels.txt beside the model), the model must take that dataset's `image_shape`."""

    names: tuple[str, ...]
    source: str
    image_shape: tuple[int, ...] | None = None


def read_labels(path: Path) -> tuple[str, ...]:
    """The class names of a `labels.txt`: one a line, in output order."""
    try:
        names = tuple(line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip())
    except (OSError, UnicodeDecodeError) as error:
        raise PipelineError(f"cannot read {path}: {getattr(error, 'strerror', None) or error}") from error
    if not names:
        raise PipelineError(f"{path} names no classes (one name a line)")
    return names


def labels_for(model_path: Path) -> Labels:
    """The class names of a model: `labels.txt` beside it, else the prepared dataset's, else Fashion-MNIST's."""
    labels_file = Path(model_path).parent / config.LABELS_FILE_NAME
    if labels_file.is_file():
        return Labels(read_labels(labels_file), str(labels_file))
    if config.DATASET_FILE.is_file():
        dataset = config.load_dataset_info()
        return Labels(dataset.class_names, f"the prepared dataset {dataset.name}", dataset.image_shape)
    return Labels(config.CLASS_NAMES, "Fashion-MNIST", config.IMAGE_SHAPE)


def _accepted_inputs(labels: Labels) -> list[tuple[int, ...]]:
    """The input shapes a model named by `labels` may take: its dataset's images, with or without a grey channel."""
    if labels.image_shape is None or len(labels.image_shape) == 3:
        return [labels.image_shape]
    return [labels.image_shape, (*labels.image_shape, 1)]


def _check_shapes(source: Path, input_shape: tuple, output_shape: tuple, labels: Labels) -> None:
    """Refuse a model that does not take images of its dataset's shape, or does not score each of its
    classes (shapes without batch)."""
    input_shape = tuple(input_shape)
    is_image = len(input_shape) == 2 or (len(input_shape) == 3 and input_shape[2] in (1, 3))
    if not is_image:
        raise PipelineError(
            f"{source} takes input {_shape_text(input_shape)}, not images "
            "([batch, height, width] grey or [batch, height, width, 3] RGB)"
        )
    if labels.image_shape is not None and input_shape not in _accepted_inputs(labels):
        expected = " or ".join(_shape_text(shape) for shape in _accepted_inputs(labels))
        raise PipelineError(
            f"{source} takes input {_shape_text(input_shape)}, not {expected}: not a model of {labels.source} "
            f"(and there is no {config.LABELS_FILE_NAME} beside it)"
        )
    if tuple(output_shape) != (len(labels.names),):
        raise PipelineError(
            f"{source} returns {_shape_text(output_shape)}, not [batch, {len(labels.names)}] "
            f"(one score per class of {labels.source}: {', '.join(labels.names)})"
        )


@dataclass(frozen=True)
class Classifier:
    """A loaded model: called on a batch of prepared images, it returns their float32 logits."""

    logits: Logits
    input_shape: tuple[int, ...]
    class_names: tuple[str, ...]

    def __call__(self, pixels: np.ndarray) -> np.ndarray:
        return self.logits(pixels)


def _load_tflite(path: Path, threads: int, labels: Labels) -> Classifier:
    model = litert.TFLiteModel.load(path, threads)
    _check_shapes(path, model.input_shape, (model.num_classes,), labels)
    return Classifier(model.logits, model.input_shape, labels.names)


def _load_keras(path: Path, labels: Labels) -> Classifier:
    """A `.keras` model, loaded without running any code it may carry; TensorFlow is imported only here."""
    try:
        with open(path, "rb") as file:
            is_archive = zipfile.is_zipfile(file)
    except OSError as error:
        raise PipelineError(f"cannot read {path}: {error.strerror}") from error
    if not is_archive:
        raise PipelineError(f"{path} is not a Keras model (a .keras file is a zip archive)")
    with cli.quiet_native_logs():
        import keras

        try:
            model = keras.models.load_model(path, compile=False, safe_mode=True)
        except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile) as error:
            raise PipelineError(f"{path} is not a loadable Keras model: {error}".splitlines()[0]) from error
    inputs, outputs = getattr(model, "inputs", None) or [], getattr(model, "outputs", None) or []
    if len(inputs) != 1 or len(outputs) != 1:
        raise PipelineError(f"{path} has {len(inputs)} inputs and {len(outputs)} outputs, not one of each")
    shape = tuple(inputs[0].shape[1:])
    _check_shapes(path, shape, tuple(outputs[0].shape[1:]), labels)

    def logits(pixels: np.ndarray) -> np.ndarray:
        with cli.quiet_native_logs():
            return np.asarray(model.predict(pixels.reshape(len(pixels), *shape), verbose=0))

    return Classifier(logits, shape, labels.names)


def load_model(path: Path, threads: int) -> Classifier:
    """A `.keras` or `.tflite` classifier with its class names (`labels_for`): a function from prepared
    images (`[n, *input_shape]` float32 pixels 0-255) to logits."""
    labels = labels_for(Path(path))
    if Path(path).suffix == ".keras":
        return _load_keras(Path(path), labels)
    return _load_tflite(Path(path), threads, labels)


def default_model(comparison: Path) -> Path:
    """The best variant's float32 `.tflite`, as the compare stage recorded it in `comparison`."""
    if not comparison.exists():
        raise PipelineError(f"{comparison} is missing, so there is no best model yet: run `dvc repro`, or pass --model")
    summary = read_json(comparison)
    best = summary.get("best") if isinstance(summary, dict) else None
    if not isinstance(best, str) or not best:
        raise PipelineError(f"{comparison} names no best variant: run `dvc repro`, or pass --model")
    path = config.VariantPaths(best).tflite()
    if not path.exists():
        raise PipelineError(f"the best variant's model {path} is missing: run `dvc repro`, or pass --model")
    return path


# --- Predictions ------------------------------------------------------------------------------------


def top_classes(logits: np.ndarray, top: int, class_names: tuple[str, ...]) -> list[list[tuple[str, float]]]:
    """For each image, its `top` most probable classes (all, if there are fewer) with their
    probabilities, most probable first."""
    probabilities = litert.softmax(logits.astype(np.float64))
    best = np.argsort(-probabilities, axis=1, kind="stable")[:, :top]
    return [[(class_names[c], float(row[c])) for c in order] for row, order in zip(probabilities, best)]


def format_line(image: Path | str, predictions: list[tuple[str, float]]) -> str:
    """E.g. `shirt.jpg: Shirt 81.2%, T-shirt/top 10.3%, Pullover 4.0%`."""
    return f"{image}: " + ", ".join(f"{name} {probability:.1%}" for name, probability in predictions)


def as_json(model: Path, images: list[Path], predictions: list[list[tuple[str, float]]]) -> str:
    results = [
        {"image": str(image), "predictions": [{"class": c, "probability": round(p, 6)} for c, p in classes]}
        for image, classes in zip(images, predictions)
    ]
    return json.dumps({"model": _shown(model), "images": results}, indent=2)


def _shown(path: Path) -> str:
    """`path` relative to the working directory when it is inside it, as a user would type it."""
    try:
        return str(Path(path).relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _top_count(text: str) -> int:
    count = int(text) if text.isdigit() else 0
    if count < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, not {text!r}")
    return count


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m pipeline.predict", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("images", nargs="+", type=Path, metavar="IMAGE", help="image files (PNG, JPEG, ...)")
    parser.add_argument("--model", type=Path, metavar="PATH", help="a .tflite or .keras file (default: the best)")
    parser.add_argument("--top", type=_top_count, default=DEFAULT_TOP, metavar="K", help="classes shown per image")
    parser.add_argument("--json", action="store_true", help="print JSON instead of one line per image")
    return parser.parse_args()


def main() -> None:
    args = _parse_args()
    model_path = args.model or default_model(config.COMPARISON["json"])
    images = [open_image(path) for path in args.images]  # a bad image fails before the model loads (seconds for .keras)
    model = load_model(model_path, config.load_params().threads)
    pixels = np.stack([prepare_for(image, model.input_shape) for image in images])
    predictions = top_classes(model(pixels), args.top, model.class_names)
    if args.json:
        print(as_json(model_path, args.images, predictions))
    else:
        print("\n".join(format_line(image, classes) for image, classes in zip(args.images, predictions)))


if __name__ == "__main__":
    cli.run(main)
