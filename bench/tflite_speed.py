"""What an app developer gets from each exported `.tflite` file, measured afresh, against Keras.

    python bench/tflite_speed.py [--variants cnn cnn_dropout] [--threads 2] [--runs 500]

For every variant and every exported flavour (float32, dynamic-range, float16, int8) it loads
the file with LiteRT and prints test accuracy, top-1 agreement with the Keras model, size, and
single-image latency (median and p95, one call of the `serving_default` signature per image), and
the Keras `model.predict` call (and the eager `model(image)` call) on the same images. It ends
with the issue's targets, met or not: the int8 file at most 30% of the float32 file's size with
test accuracy within 0.5 points of Keras, and float32 agreement with Keras of at least 99.9%.
Needs `dvc repro` first (models/, data/prepared/).
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from pipeline.core import cli, config  # noqa: E402
from pipeline.core.paths import TFLITE_FLAVOURS, VariantPaths, split_path  # noqa: E402
from pipeline.data.split_files import load_split  # noqa: E402
from pipeline.on_device import litert  # noqa: E402
from pipeline.on_device.latency import latency_ms  # noqa: E402
from pipeline.on_device.measurement import keras_latency_ms, measure  # noqa: E402
from pipeline.reporting.metrics import accuracy  # noqa: E402
from pipeline.training.keras_file import load_keras_model, predict_logits  # noqa: E402

VERDICTS = {True: "met", False: "MISSED", None: "info"}
HEADER = f"{'variant':<12} {'file':<13} {'accuracy':>8} {'agree':>8} {'bytes':>10} {'size':>5} {'ms':>7} {'p95 ms':>7}"


def bench_variant(name: str, images: np.ndarray, labels: np.ndarray, threads: int, runs: int) -> dict:
    """Every flavour of one variant measured with LiteRT, and Keras on the same images."""
    paths = VariantPaths(name)
    model = load_keras_model(paths.seed(config.load_params().shipped_seed).model)  # what export converted
    keras_logits = predict_logits(model, images)
    settings = config.ExportParams(latency_runs=runs)
    results = {"keras_accuracy": accuracy(keras_logits, labels), **keras_latency_ms(model, images)}
    singles = [image[None].astype(np.float32) for image in images[:runs]]
    results["keras_call"] = latency_ms(lambda image: model(image, training=False), singles)
    for flavour in TFLITE_FLAVOURS:
        tflite = litert.TFLiteModel.load(paths.tflite(flavour), threads)
        results[flavour] = measure(tflite, images, labels, keras_logits, settings)
        results[flavour]["size_bytes"] = paths.tflite(flavour).stat().st_size
    return results


def print_variant(name: str, results: dict) -> None:
    float32_size = results["float32"]["size_bytes"]
    for flavour in TFLITE_FLAVOURS:
        r = results[flavour]
        print(
            f"{name:<12} {flavour:<13} {r['accuracy']:>8.4f} {r['top1_agreement']:>8.2%} {r['size_bytes']:>10,} "
            f"{r['size_bytes'] / float32_size:>5.0%} {r['latency_ms_median']:>7.3f} {r['latency_ms_p95']:>7.3f}"
        )
    print(
        f"{name:<12} {'Keras':<13} {results['keras_accuracy']:>8.4f} {'':>8} {'':>10} {'':>5} "
        f"{results['keras_predict_latency_ms_median']:>7.1f} {results['keras_predict_latency_ms_p95']:>7.1f}"
        "   (model.predict, one image)"
    )
    call = results["keras_call"]
    print(
        f"{name:<12} {'Keras':<13} {'':>8} {'':>8} {'':>10} {'':>5} "
        f"{call['latency_ms_median']:>7.3f} {call['latency_ms_p95']:>7.3f}   (model(image), one image, eager)"
    )


def targets(name: str, results: dict, gate: config.GateParams) -> list[tuple[str, bool | None]]:
    """The gate's bounds (params.yaml) for one variant: (what was measured, met? or None where only reported)."""
    int8, float32 = results["int8"], results["float32"]
    ratio = int8["size_bytes"] / float32["size_bytes"]
    drop = results["keras_accuracy"] - int8["accuracy"]
    speedup = results["keras_predict_latency_ms_median"] / float32["latency_ms_median"]
    return [
        (
            f"{name}: int8 size {ratio:.1%} of float32 (≤ {gate.max_int8_size_ratio:.0%})",
            ratio <= gate.max_int8_size_ratio,
        ),
        (
            f"{name}: int8 accuracy {drop * 100:+.2f} points below Keras "
            f"(≤ {gate.max_quantized_accuracy_drop * 100:g})",
            drop <= gate.max_quantized_accuracy_drop,
        ),
        (
            f"{name}: float32 agreement with Keras {float32['top1_agreement']:.3%} (≥ {gate.min_tflite_agreement:.1%})",
            float32["top1_agreement"] >= gate.min_tflite_agreement,
        ),
        (
            f"{name}: single image, float32 .tflite {float32['latency_ms_median']:.3f} ms vs Keras predict "
            f"{results['keras_predict_latency_ms_median']:.1f} ms ({speedup:,.0f}x faster)",
            None,
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", nargs="+", help="default: every variant in params.yaml")
    parser.add_argument("--threads", type=int, help="LiteRT threads (default: `threads` in params.yaml)")
    parser.add_argument("--runs", type=int, default=500, help="single-image calls timed per file")
    args = parser.parse_args()
    params = config.load_params()
    threads = args.threads or params.threads
    images, labels = load_split(split_path("test"))
    print(f"{len(labels):,} test images, LiteRT with {threads} threads, latency over {args.runs} single images\n")
    print(HEADER)
    verdicts = []
    for name in args.variants or list(params.variants):
        params.variant(name)
        results = bench_variant(name, images, labels, threads, args.runs)
        print_variant(name, results)
        verdicts += targets(name, results, params.gate)
    print()
    for text, met in verdicts:
        print(f"{VERDICTS[met]:<6}  {text}")


if __name__ == "__main__":
    cli.run(main)
