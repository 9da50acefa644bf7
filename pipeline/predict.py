"""Classify your own images: `python -m pipeline.predict IMAGE [IMAGE ...] [--model PATH] [--top K] [--json]`.

Each image (PNG, JPEG, anything Pillow opens) is made into what the model was trained on
(`pipeline/images.py`: Fashion-MNIST's own preparation for 28×28 grey models).
The model is a `.tflite` file (run with LiteRT: no TensorFlow import, fast) or a `.keras` file;
by default the best variant's float32 `.tflite`, as named in `reports/comparison.json`. The class
names come from `labels.txt` beside the model (the export stage writes it), else from the prepared
dataset (`data/prepared/dataset.json`), else they are Fashion-MNIST's.

The app flavour, `model_app.tflite`, is run as an app runs it: each picture as RGB, as it is, through
MediaPipe's ImageClassifier, which resizes it and whose graph prepares it; the class names are the
ones in its metadata. So the answer is MediaPipe's for the same file.
"""

import argparse
import json
from pathlib import Path

import numpy as np

from pipeline.core import cli, config
from pipeline.core.paths import COMPARISON
from pipeline.data.photos import app_pixels, open_image, prepare_for
from pipeline.on_device import litert
from pipeline.on_device.classifier import default_model, load_model
from pipeline.reporting.metrics import softmax

DEFAULT_TOP = 3


def top_probabilities(probabilities: np.ndarray, top: int, class_names) -> list[list[tuple[str, float]]]:
    """For each image, its `top` most probable classes (all, if there are fewer) with their
    probabilities, most probable first."""
    best = np.argsort(-probabilities, axis=1, kind="stable")[:, :top]
    return [[(class_names[c], float(row[c])) for c in order] for row, order in zip(probabilities, best)]


def top_classes(logits: np.ndarray, top: int, class_names: tuple[str, ...]) -> list[list[tuple[str, float]]]:
    """`top_probabilities` of the softmax of `logits`."""
    return top_probabilities(softmax(logits.astype(np.float64)), top, class_names)


def app_predictions(model: Path, images: list, top: int) -> list[list[tuple[str, float]]]:
    """What MediaPipe's ImageClassifier answers for each picture with the app flavour `model`."""
    from pipeline.on_device import mediapipe_classifier

    pictures = [app_pixels(image) for image in images]
    scores, class_names = mediapipe_classifier.classify_pictures(model, pictures)
    return top_probabilities(scores, top, class_names)


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
    model_path = args.model or default_model(COMPARISON["json"])
    images = [open_image(path) for path in args.images]  # a bad image fails before the model loads (seconds for .keras)
    if litert.TFLiteModel.is_app_flavour(model_path):
        predictions = app_predictions(model_path, images, args.top)
    else:
        model = load_model(model_path, config.load_params().threads)
        pixels = np.stack([prepare_for(image, model.input_shape) for image in images])
        predictions = top_classes(model(pixels), args.top, model.class_names)
    if args.json:
        print(as_json(model_path, args.images, predictions))
    else:
        print("\n".join(format_line(image, classes) for image, classes in zip(args.images, predictions)))


if __name__ == "__main__":
    cli.run(main)
