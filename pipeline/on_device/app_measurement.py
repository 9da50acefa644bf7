"""The app flavour's two builds measured, LiteRT on every test image and MediaPipe on a sample, and the flavour
to ship.

Every test image, made RGB at the file's input size (each pixel a block, `photo_like.as_rgb`), is
classified by LiteRT running the very file one image a call (app_litert: MediaPipe's scores exactly,
several times faster): accuracy and top-1 agreement with Keras on the whole set. MediaPipe's
ImageClassifier itself classifies a seeded class-stratified sample of them (app_sample) as each test set
of `photo_like.app_test_sets`: RGB, for its per-image latency and a check that it scores them as LiteRT
did; for a Fashion-MNIST-style model also photo-like (MediaPipe resizes those, and each takes about 6 ms
to make), for accuracy with its exact interval, top-1 agreement with Keras and latency.
`choose_flavour` keeps int8 when its accuracy drop against float32 stays within a bound on every set:
RGB on the whole set, photo-like on the sample (the same images for both builds).
"""

import time

import numpy as np

from pipeline.core import config
from pipeline.on_device.app_input import app_input_size
from pipeline.on_device.app_litert import app_scorer
from pipeline.on_device.app_sample import accuracy_interval, stratified_sample
from pipeline.on_device.latency import latency_summary
from pipeline.on_device.mediapipe_classifier import VERSION as MEDIAPIPE_VERSION
from pipeline.on_device.mediapipe_classifier import classify_timed
from pipeline.on_device.photo_like import app_test_sets, as_rgb
from pipeline.reporting.metrics import accuracy, top1_agreement

LATENCY_WARMUP = 10  # first calls of a new classifier, left out of the latency
MEASURE_CHUNK = 500  # test images made into RGB at once while measuring (about 230 MB with photo-like ones)


def choose_flavour(float32_accuracy: dict[str, float], int8_accuracy: dict[str, float], max_drop: float) -> tuple:
    """("int8" or "float32", why): int8 when its accuracy drop against the float32 app flavour on every test
    set is at most `max_drop`."""
    drops = {name: float32_accuracy[name] - int8_accuracy[name] for name in float32_accuracy}
    worst = max(drops, key=drops.get)
    verdict = "within" if drops[worst] <= max_drop else "more than"
    reason = f"int8's largest accuracy drop against float32 is {drops[worst]:.4f} ({worst}): {verdict} {max_drop}"
    return ("int8" if verdict == "within" else "float32"), reason


def litert_rgb_scores(
    contents: dict[str, bytes], images: np.ndarray, input_size: tuple[int, int], threads: int, chunk: int
) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """Every build's scores on every image made RGB at `input_size`, run by LiteRT with `threads` threads,
    and the seconds each build took. The images are made `chunk` at a time: 10,000 at 224×224 take 1.5 GB."""
    scorers = {
        flavour: app_scorer(content, threads, f"the {flavour} app flavour") for flavour, content in contents.items()
    }
    scores, seconds = {flavour: [] for flavour in contents}, dict.fromkeys(contents, 0.0)
    for start in range(0, len(images), chunk):
        rgb = as_rgb(images[start : start + chunk], input_size)
        for flavour, scorer in scorers.items():
            begin = time.perf_counter()
            scores[flavour].append(scorer(rgb))
            seconds[flavour] += time.perf_counter() - begin
    return {flavour: np.concatenate(parts) for flavour, parts in scores.items()}, seconds


def mediapipe_runs(contents: dict[str, bytes], images: np.ndarray, settings: dict, chunk: int) -> dict:
    """(flavour, test set) -> MediaPipe's scores, per-image seconds, and which calls came after the
    classifier's warm-up, for every build on every test set of `images`, made `chunk` images at a time."""
    runs = {}
    for start in range(0, len(images), chunk):
        sets = app_test_sets(images[start : start + chunk], seed=settings["seed"] + start, **settings["sizes"])
        for flavour, content in contents.items():
            for name, set_images in sets.items():
                result, took = classify_timed(content, set_images, source=f"the {flavour} app flavour")
                warm = np.arange(len(took)) >= min(LATENCY_WARMUP, len(took) // 2)
                runs.setdefault((flavour, name), []).append((result, took, warm))
    return {key: [np.concatenate(parts) for parts in zip(*chunks)] for key, chunks in runs.items()}


def _timing(seconds: np.ndarray, warm: np.ndarray) -> dict:
    """MediaPipe's per-image latency of the warm calls, and the seconds all calls took."""
    return {**latency_summary(seconds[warm]), "mediapipe_seconds": round(float(seconds.sum()), 3)}


def _rgb_report(litert: tuple, run: list, sample: np.ndarray, labels: np.ndarray, keras_logits: np.ndarray) -> dict:
    """The RGB set: LiteRT's accuracy and top-1 agreement with Keras on every image (`litert`: scores,
    seconds); MediaPipe's latency on the `sample` and how its scores there compare with LiteRT's."""
    (scores, litert_seconds), (sampled, seconds, warm) = litert, run
    return {
        "accuracy": round(accuracy(scores, labels), 6),
        "top1_agreement": round(top1_agreement(scores, keras_logits), 6),
        "images": len(labels),
        "litert_seconds": round(litert_seconds, 3),
        "mediapipe_images": len(sample),
        "mediapipe_top1_agreement_with_litert": round(top1_agreement(sampled, scores[sample]), 6),
        "mediapipe_max_abs_score_diff": float(np.abs(sampled - scores[sample]).max()),
        **_timing(seconds, warm),
    }


def _sample_report(run: list, labels: np.ndarray, keras_logits: np.ndarray, confidence: float) -> dict:
    """A set only MediaPipe measured, on the sample (`labels`, `keras_logits` its images'): accuracy with its
    exact interval at `confidence`, top-1 agreement with Keras, latency."""
    scores, seconds, warm = run
    low, high = accuracy_interval(int((scores.argmax(axis=1) == labels).sum()), len(labels), confidence)
    return {
        "accuracy": round(accuracy(scores, labels), 6),
        "accuracy_ci_low": low,
        "accuracy_ci_high": high,
        "top1_agreement": round(top1_agreement(scores, keras_logits), 6),
        "images": len(labels),
        **_timing(seconds, warm),
    }


def _with_choice(report: dict, max_int8_drop: float) -> dict:
    """The report with the flavour `choose_flavour` picks on every set, its reason and bound."""
    names = [name for name in report["float32"] if name != "size_bytes"]
    accuracies = {flavour: {name: report[flavour][name]["accuracy"] for name in names} for flavour in report}
    flavour, reason = choose_flavour(accuracies["float32"], accuracies["int8"], max_int8_drop)
    return {"flavour": flavour, "reason": reason, "max_int8_accuracy_drop": max_int8_drop, **report}


def measure_app(
    contents: dict[str, bytes],
    test: tuple[np.ndarray, np.ndarray],
    keras_logits: np.ndarray,
    app: config.AppParams,
    *,
    seed: int,
    threads: int,
    confidence: float,
    chunk: int = MEASURE_CHUNK,
) -> dict:
    """Every app-flavour build (`contents`: flavour -> bytes with metadata) measured on the test images
    (`test`: images as the model takes them, labels): by LiteRT on all of them as RGB, by MediaPipe on a
    stratified sample of `app.mediapipe_images` (drawn with `seed`, as the photo-like images' noise is);
    and the flavour `choose_flavour` picks, with its reason. LiteRT runs with `threads` threads; intervals
    are at `confidence`."""
    images, labels = test
    input_size = app_input_size(images.shape[1:], app.input_size)
    scores, seconds = litert_rgb_scores(contents, images, input_size, threads, chunk)
    sample = stratified_sample(labels, app.mediapipe_images, seed)
    settings = {"seed": seed, "sizes": {"input_size": input_size, "photo_size": app.photo_size}}
    report = {flavour: {"size_bytes": len(content)} for flavour, content in contents.items()}
    for (flavour, name), mediapipe in mediapipe_runs(contents, images[sample], settings, chunk).items():
        report[flavour][name] = (
            _rgb_report((scores[flavour], seconds[flavour]), mediapipe, sample, labels, keras_logits)
            if name == "rgb"
            else _sample_report(mediapipe, labels[sample], keras_logits[sample], confidence)
        )
    counts = {
        "test_images": len(labels),
        "mediapipe_images": len(sample),
        "confidence": confidence,
        "mediapipe_version": MEDIAPIPE_VERSION,
    }
    return _with_choice(report, app.max_int8_accuracy_drop) | counts
