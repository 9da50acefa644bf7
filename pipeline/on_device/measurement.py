"""What an app developer needs to know about each exported `.tflite` file, measured with LiteRT against Keras:
accuracy, agreement, probability difference, size, single-image latency and throughput."""

import numpy as np

from pipeline.core import config
from pipeline.core.frameworks import keras
from pipeline.on_device import litert
from pipeline.on_device.latency import latency_ms
from pipeline.reporting.metrics import accuracy, max_probability_difference, top1_agreement

KERAS_LATENCY_RUNS = 30  # `model.predict` on one image takes tens of milliseconds


def measure(
    model: litert.TFLiteModel, images: np.ndarray, labels: np.ndarray, keras_logits: np.ndarray, settings
) -> dict:
    """What an app developer needs to know about one `.tflite` file, measured with LiteRT."""
    logits, images_per_second = litert.throughput(model, images, settings.throughput_batch)
    singles = [model.input.quantize(image[None]) for image in images[: settings.latency_runs]]
    return {
        "accuracy": round(accuracy(logits, labels), 6),
        "accuracy_drop": round(accuracy(keras_logits, labels) - accuracy(logits, labels), 6),
        "top1_agreement": round(top1_agreement(logits, keras_logits), 6),
        "max_abs_probability_diff": round(max_probability_difference(logits, keras_logits), 6),
        **latency_ms(model.invoke, singles),
        "throughput_images_per_s": round(images_per_second, 1),
    }


def keras_latency_ms(model: keras.Model, images: np.ndarray) -> dict[str, float]:
    """Single-image `model.predict` latency, the baseline the `.tflite` files are compared with."""
    singles = [image[None].astype(np.float32) for image in images[:KERAS_LATENCY_RUNS]]
    timed = latency_ms(lambda image: model.predict(image, verbose=0), singles, warmup=3)
    return {f"keras_predict_{key}": value for key, value in timed.items()}


def measure_all(
    name: str, params: config.Params, model: keras.Model, contents: dict[str, bytes], test, keras_logits
) -> tuple:
    """The report of every exported file, and each file's input and output formats (MLflow params);
    `keras_logits` are the model's on the test images."""
    images, labels = test
    report = {
        "threads": params.threads,
        "throughput_batch": params.export.throughput_batch,
        "keras_accuracy": round(accuracy(keras_logits, labels), 6),
        **keras_latency_ms(model, images),
    }
    formats = {}
    for flavour, content in contents.items():
        tflite = litert.TFLiteModel(content, params.threads, source=f"{name} {flavour}")
        report[flavour] = {"size_bytes": len(content)} | measure(tflite, images, labels, keras_logits, params.export)
        report[flavour]["size_vs_float32"] = round(len(content) / len(contents["float32"]), 4)
        formats |= {f"tflite.{flavour}.{key}": text for key, text in tflite.describe().items()}
    return report, formats
