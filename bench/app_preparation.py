"""What the app flavour's in-graph preparation costs against `pipeline.predict`'s, on the same photos.

    python bench/app_preparation.py [--variants cnn_dropout mlp] [--images 2000]

The first test images are made photo-like (dark garment on light paper, 320×320, tinted, noisy,
JPEG: `app_model.photo_like`), then classified two ways:
- as an app does: `model_app.tflite` through MediaPipe's ImageClassifier, the picture as it is;
- as `python -m pipeline.predict` does for the other files: `images.prepare_image` (grey, inverted,
  margin trimmed, centred, 28×28) and the float32 `model.tflite` with LiteRT.
It repeats both on the same garments shrunk to 60% of the frame's side at a random place (a photo
taken from further away), where the graph's lack of trimming and centring shows. Prints accuracy and
top-1 agreement with Keras on the originals. Needs `dvc repro` first (models/, data/prepared/).
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from pipeline import app_model, cli, config, cpu, litert, mediapipe_client  # noqa: E402
from pipeline.artifacts import load_split  # noqa: E402
from pipeline.images import prepare_image  # noqa: E402
from pipeline.keras_model import load_keras_model, predict_logits  # noqa: E402
from pipeline.metrics import accuracy, top1_agreement  # noqa: E402
from pipeline.paths import VariantPaths, split_path  # noqa: E402

SMALL_SHARE = 0.6  # the far-away photos: the garment's side as a share of the frame's


def far_away(photos: np.ndarray, seed: int) -> np.ndarray:
    """The photos shrunk to SMALL_SHARE of their side, pasted at a random place on their own paper colour."""
    rng = np.random.default_rng(seed)
    side = photos.shape[1]
    small = round(side * SMALL_SHARE)
    out = np.empty_like(photos)
    for index, photo in enumerate(photos):
        paper = np.median(np.concatenate([photo[0], photo[-1]]), axis=0).astype(np.uint8)
        out[index] = paper
        top, left = rng.integers(0, side - small + 1, size=2)
        out[index, top : top + small, left : left + small] = np.asarray(Image.fromarray(photo).resize((small, small)))
    return out


def both_ways(name: str, photos: np.ndarray, threads: int) -> tuple[np.ndarray, np.ndarray]:
    """The app flavour's scores through MediaPipe, and predict's logits (prepare_image, model.tflite)."""
    paths = VariantPaths(name)
    app_scores = mediapipe_client.classify(paths.app_tflite, photos)
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
    photos = app_model.photo_like(images, params.export.app.photo_size, params.seed)
    sets = {"photo-like": photos, f"far away ({SMALL_SHARE:.0%})": far_away(photos, params.seed)}
    print(f"{cpu.model()} ({cpu.isa_class()}), {len(labels)} test images")
    print(f"{'variant':<12} {'photos':<16} {'app acc':>8} {'agree':>7} {'predict acc':>11} {'agree':>7} {'cost':>7}")
    for name in args.variants:
        keras_logits = predict_logits(load_keras_model(VariantPaths(name).model), images)
        for title, pictures in sets.items():
            app_scores, logits = both_ways(name, pictures, params.threads)
            app, predicted = accuracy(app_scores, labels), accuracy(logits, labels)
            print(
                f"{name:<12} {title:<16} {app:>8.4f} {top1_agreement(app_scores, keras_logits):>7.2%} "
                f"{predicted:>11.4f} {top1_agreement(logits, keras_logits):>7.2%} {predicted - app:>+7.4f}"
            )


if __name__ == "__main__":
    cli.run(main)
