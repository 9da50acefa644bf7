"""The app flavour's files measured by MediaPipe itself on synthetic RGB test sets, and the flavour to ship.

Each file (float32, int8) classifies every test set of `photo_like.app_test_sets` (the test images as
block-upscaled RGB, and photo-like for a Fashion-MNIST-style model): accuracy, top-1 agreement with
Keras on the original images, per-image latency, seconds per set. `choose_flavour` keeps int8 when its
accuracy drop against float32 stays within a bound on every set.
"""

import numpy as np

from pipeline.on_device.app_input import DEFAULT_INPUT_SIZE, app_input_size
from pipeline.on_device.latency import latency_summary
from pipeline.on_device.mediapipe_classifier import classify_timed
from pipeline.on_device.photo_like import PHOTO_SIZE, app_test_sets
from pipeline.reporting.metrics import accuracy, top1_agreement

LATENCY_WARMUP = 10  # first calls of a new classifier, left out of the latency
MEASURE_CHUNK = 500  # test images made into RGB at once while measuring (about 230 MB)


def choose_flavour(float32_accuracy: dict[str, float], int8_accuracy: dict[str, float], max_drop: float) -> tuple:
    """("int8" or "float32", why): int8 when its accuracy drop against the float32 app flavour on every test
    set is at most `max_drop`."""
    drops = {name: float32_accuracy[name] - int8_accuracy[name] for name in float32_accuracy}
    worst = max(drops, key=drops.get)
    verdict = "within" if drops[worst] <= max_drop else "more than"
    reason = f"int8's largest accuracy drop against float32 is {drops[worst]:.4f} ({worst}): {verdict} {max_drop}"
    return ("int8" if verdict == "within" else "float32"), reason


def _summary(scores: np.ndarray, seconds: np.ndarray, warm: np.ndarray, labels, keras_logits) -> dict:
    """Accuracy, top-1 agreement with Keras on the original images, per-image latency of the `warm` calls
    (after each classifier's first ones), and the seconds the whole set took."""
    return {
        "accuracy": round(accuracy(scores, labels), 6),
        "top1_agreement": round(top1_agreement(scores, keras_logits), 6),
        **latency_summary(seconds[warm]),
        "seconds": round(float(seconds.sum()), 3),
    }


def _run_sets(contents: dict[str, bytes], images: np.ndarray, settings: dict, chunk: int) -> dict:
    """Scores and per-image seconds of every file on every test set, made `chunk` images at a time (10,000
    images at 224×224 RGB would take 1.5 GB at once), and which calls came after the classifier's warm-up."""
    runs = {}
    for start in range(0, len(images), chunk):
        sets = app_test_sets(images[start : start + chunk], seed=settings["seed"] + start, **settings["sizes"])
        for flavour, content in contents.items():
            for name, set_images in sets.items():
                result, took = classify_timed(content, set_images, source=f"the {flavour} app flavour")
                warm = np.arange(len(took)) >= min(LATENCY_WARMUP, len(took) // 2)
                runs.setdefault((flavour, name), []).append((result, took, warm))
    return {key: [np.concatenate(parts) for parts in zip(*chunks)] for key, chunks in runs.items()}


def measure_app(
    contents: dict[str, bytes],
    test: tuple[np.ndarray, np.ndarray],
    keras_logits: np.ndarray,
    max_int8_drop: float,
    seed: int,
    input_size: int = DEFAULT_INPUT_SIZE,
    photo_size: int = PHOTO_SIZE,
    chunk: int = MEASURE_CHUNK,
) -> dict:
    """Every app-flavour file (`contents`: flavour -> bytes with metadata) run by MediaPipe on the test images
    (`test`: images as the model takes them, labels) made into each of `app_test_sets` (`input_size` as
    for `build_app_model`), and the flavour `choose_flavour` picks, with its reason."""
    images, labels = test
    sizes = {"input_size": app_input_size(images.shape[1:], input_size), "photo_size": photo_size}
    settings = {"seed": seed, "sizes": sizes}
    report = {flavour: {"size_bytes": len(content)} for flavour, content in contents.items()}
    for (flavour, name), run in _run_sets(contents, images, settings, chunk).items():
        report[flavour][name] = _summary(*run, labels, keras_logits)
    names = [name for name in report["float32"] if name != "size_bytes"]
    accuracies = {flavour: {name: report[flavour][name]["accuracy"] for name in names} for flavour in contents}
    flavour, reason = choose_flavour(accuracies["float32"], accuracies["int8"], max_int8_drop)
    return {"flavour": flavour, "reason": reason, "max_int8_accuracy_drop": max_int8_drop, **report}
