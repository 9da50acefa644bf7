"""What the app flavour's in-graph preparation costs against `pipeline.predict`'s, on the same photos.

    python bench/app_preparation.py [--variants cnn_dropout mlp] [--images 2000]

The first test images are made photo-like (dark garment on light paper, 320×320, tinted, noisy,
JPEG: `photo_like.photo_like`), then classified two ways:
- as an app does: `model_app.tflite` through MediaPipe's ImageClassifier, the picture as it is;
- as `python -m pipeline.predict` does for the other files: `photos.prepare_image` (grey, inverted,
  margin trimmed, centred, 28×28) and the float32 `model.tflite` with LiteRT.
It repeats both on the same garments shrunk to 60% of the frame's side at a random place (a photo
taken from further away), where the graph's lack of trimming and centring shows, and once more with
MediaPipe given the garment's box as its region of interest (`ImageProcessingOptions`), as an app
that knows where the garment is (a detector, or the user's framing) would. Prints accuracy and
top-1 agreement with Keras on the originals. Needs `dvc repro` first (models/, data/prepared/).
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import mediapipe as mp  # noqa: E402
import numpy as np  # noqa: E402
from mediapipe.tasks.python.components.containers.rect import RectF  # noqa: E402
from mediapipe.tasks.python.core.base_options import BaseOptions  # noqa: E402
from mediapipe.tasks.python.vision.core.image_processing_options import ImageProcessingOptions  # noqa: E402
from mediapipe.tasks.python.vision.image_classifier import ImageClassifier, ImageClassifierOptions  # noqa: E402
from PIL import Image  # noqa: E402

from pipeline.core import cli, config  # noqa: E402
from pipeline.core.paths import VariantPaths, split_path  # noqa: E402
from pipeline.data.photos import prepare_image  # noqa: E402
from pipeline.data.split_files import load_split  # noqa: E402
from pipeline.on_device import litert, mediapipe_classifier  # noqa: E402
from pipeline.on_device.photo_like import photo_like  # noqa: E402
from pipeline.reporting.metrics import accuracy, top1_agreement  # noqa: E402
from pipeline.training import cpu  # noqa: E402
from pipeline.training.keras_file import load_keras_model, predict_logits  # noqa: E402

SMALL_SHARE = 0.6  # the far-away photos: the garment's side as a share of the frame's


def far_away(photos: np.ndarray, seed: int) -> tuple[np.ndarray, list[RectF]]:
    """The photos shrunk to SMALL_SHARE of their side, pasted at a random place on their own paper colour,
    and where each garment is (its box, as fractions of the frame)."""
    rng = np.random.default_rng(seed)
    side = photos.shape[1]
    small = round(side * SMALL_SHARE)
    out, boxes = np.empty_like(photos), []
    for index, photo in enumerate(photos):
        paper = np.median(np.concatenate([photo[0], photo[-1]]), axis=0).astype(np.uint8)
        out[index] = paper
        top, left = (int(offset) for offset in rng.integers(0, side - small + 1, size=2))
        out[index, top : top + small, left : left + small] = np.asarray(Image.fromarray(photo).resize((small, small)))
        boxes.append(RectF(left / side, top / side, (top + small) / side, (left + small) / side))
    return out, boxes


def classify_boxed(model: Path, photos: np.ndarray, boxes: list[RectF]) -> np.ndarray:
    """MediaPipe's scores (label order) for each photo classified within its box."""
    options = ImageClassifierOptions(base_options=BaseOptions(model_asset_path=str(model)), max_results=-1)
    scores = np.zeros((len(photos), 0), np.float32)
    with ImageClassifier.create_from_options(options) as classifier:
        for index, (photo, box) in enumerate(zip(photos, boxes)):
            image = mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(photo))
            result = classifier.classify(image, ImageProcessingOptions(region_of_interest=box))
            categories = result.classifications[0].categories
            if index == 0:
                scores = np.zeros((len(photos), len(categories)), np.float32)
            for category in categories:
                scores[index, category.index] = category.score
    return scores


def both_ways(name: str, photos: np.ndarray, threads: int) -> tuple[np.ndarray, np.ndarray]:
    """The app flavour's scores through MediaPipe, and predict's logits (prepare_image, model.tflite)."""
    paths = VariantPaths(name)
    app_scores = mediapipe_classifier.classify(paths.app_tflite, photos)
    tflite = litert.TFLiteModel.load(paths.tflite(), threads)
    prepared = np.stack([prepare_image(Image.fromarray(photo)) for photo in photos])
    return app_scores, tflite.logits(prepared)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", nargs="+", default=["cnn_dropout", "mlp"])
    parser.add_argument("--images", type=int, default=2000)
    args = parser.parse_args()
    params = config.load_params()
    images, labels = (part[: args.images] for part in load_split(split_path("test")))
    photos = photo_like(images, params.export.app.photo_size, params.seed)
    distant, boxes = far_away(photos, params.seed)
    sets = {"photo-like": photos, f"far away ({SMALL_SHARE:.0%})": distant}
    print(f"{cpu.model()} ({cpu.isa_class()}), {len(labels)} test images")
    print(f"{'variant':<12} {'photos':<16} {'app acc':>8} {'agree':>7} {'predict acc':>11} {'agree':>7} {'cost':>7}")
    for name in args.variants:
        keras_logits = predict_logits(load_keras_model(VariantPaths(name).seed(params.shipped_seed).model), images)
        for title, pictures in sets.items():
            app_scores, logits = both_ways(name, pictures, params.threads)
            app, predicted = accuracy(app_scores, labels), accuracy(logits, labels)
            print(
                f"{name:<12} {title:<16} {app:>8.4f} {top1_agreement(app_scores, keras_logits):>7.2%} "
                f"{predicted:>11.4f} {top1_agreement(logits, keras_logits):>7.2%} {predicted - app:>+7.4f}"
            )
        boxed = classify_boxed(VariantPaths(name).app_tflite, distant, boxes)
        agreement = top1_agreement(boxed, keras_logits)
        boxed_accuracy = accuracy(boxed, labels)
        print(f"{name:<12} {'far, its box':<16} {boxed_accuracy:>8.4f} {agreement:>7.2%}  (region of interest)")


if __name__ == "__main__":
    cli.run(main)
