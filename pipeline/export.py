"""Stage `export@<variant>`: the model of the shipped seed (the first of `seeds`) as four `.tflite` files,
each measured with LiteRT.

Flavours (paths.TFLITE_FLAVOURS): float32; dynamic-range (int8 weights, float activations);
float16 weights; full-integer int8 (int8 weights and activations, int8 input and output,
activations calibrated on training images). Every file has a `serving_default` signature
taking `pixels` (the dataset's image shape) and returning `logits`, so
`Interpreter.get_signature_runner()` works. Beside them, `labels.txt` names the classes, one a
line in output order, as TFLite apps ship it.

The app flavour, `model_app.tflite` (pipeline/app_model.py), is what an app hands MediaPipe's
ImageClassifier: uint8 RGB in, the preparation and softmax inside, the labels and normalization in
its metadata; int8 when MediaPipe measures it within `export.app.max_int8_accuracy_drop` of its
float32 build, else float32.

For each file, on the whole test set: accuracy, top-1 agreement with Keras, largest
probability difference, size, single-image latency (median, p95) and throughput at a larger batch, all with
`threads` threads. They land in `reports/variants/<variant>/tflite.json` and in MLflow.
The app flavour is measured by MediaPipe itself on the test set as RGB images and as photo-like
ones (dark on light, larger, tinted, JPEG): accuracy, agreement with Keras, size, latency, under
`app` in the same file.
"""

import contextlib
import io
import tempfile
import warnings
from pathlib import Path

from pipeline import cli

if __name__ == "__main__":  # a mistyped params.yaml fails now, not after TensorFlow's import
    cli.check_params_early(takes_variant=True)

import numpy as np

from pipeline import app_model, config, litert, tracking
from pipeline.artifacts import load_split, staged_outputs, write_bytes, write_json, write_text
from pipeline.dataset import load_dataset_info
from pipeline.errors import PipelineError
from pipeline.frameworks import keras, tf
from pipeline.keras_model import load_keras_model, predict_logits
from pipeline.metrics import accuracy, max_probability_difference, top1_agreement
from pipeline.native_logs import quiet_native_logs
from pipeline.paths import TFLITE_FLAVOURS, VariantPaths, split_path
from pipeline.split_datasets import split_dataset
from pipeline.variant_stage import variant_stage

KERAS_LATENCY_RUNS = 30  # `model.predict` on one image takes tens of milliseconds


def write_saved_model(model: keras.Model, directory: Path) -> None:
    """A SavedModel whose one signature, `serving_default`, maps `pixels` (any batch of the model's
    input shape) to `logits`."""
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(
        name=litert.SIGNATURE,
        fn=lambda pixels: {litert.OUTPUT_NAME: model(pixels, training=False)},
        input_signature=[tf.TensorSpec([None, *model.input_shape[1:]], tf.float32, name=litert.INPUT_NAME)],
    )
    archive.write_out(str(directory), verbose=False)


def converter_for(saved_model: Path, flavour: str, representative: np.ndarray) -> tf.lite.TFLiteConverter:
    """A converter set up for one flavour, builtin ops only (no Flex/Select-TF ops)."""
    converter = tf.lite.TFLiteConverter.from_saved_model(str(saved_model), signature_keys=[litert.SIGNATURE])
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if flavour == "float32":
        return converter
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if flavour == "float16":
        converter.target_spec.supported_types = [tf.float16]
    elif flavour == "int8":
        converter.representative_dataset = lambda: ({litert.INPUT_NAME: image[None]} for image in representative)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    return converter


def convert(model: keras.Model, representative: np.ndarray) -> dict[str, bytes]:
    """Every flavour of `model` as a TensorFlow Lite flatbuffer."""
    with tempfile.TemporaryDirectory() as directory:
        write_saved_model(model, Path(directory))
        # The converter prints to stdout and warns about its own use of tf.lite.Interpreter.
        with contextlib.redirect_stdout(io.StringIO()), quiet_native_logs(), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*tf.lite.Interpreter is deprecated", category=UserWarning)
            return {
                flavour: converter_for(Path(directory), flavour, representative.astype(np.float32)).convert()
                for flavour in TFLITE_FLAVOURS
            }


def representative_images(images: np.ndarray, count: int, seed: int) -> np.ndarray:
    """A seeded random sample of training images to calibrate int8 activations on."""
    chosen = np.random.default_rng(seed).choice(len(images), size=min(count, len(images)), replace=False)
    return images[np.sort(chosen)]


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
        **litert.latency_ms(model.invoke, singles),
        "throughput_images_per_s": round(images_per_second, 1),
    }


def keras_latency_ms(model: keras.Model, images: np.ndarray) -> dict[str, float]:
    """Single-image `model.predict` latency, the baseline the `.tflite` files are compared with."""
    singles = [image[None].astype(np.float32) for image in images[:KERAS_LATENCY_RUNS]]
    timed = litert.latency_ms(lambda image: model.predict(image, verbose=0), singles, warmup=3)
    return {f"keras_predict_{key}": value for key, value in timed.items()}


def labels_text(class_names: tuple[str, ...], num_outputs: int) -> str:
    """`labels.txt`: one class name a line, in the model's output order."""
    if len(class_names) != num_outputs:
        raise PipelineError(
            f"the model scores {num_outputs} classes but the prepared dataset has {len(class_names)}: "
            "retrain it (dvc repro)"
        )
    return "".join(f"{name}\n" for name in class_names)


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


def app_flavour(
    model: keras.Model, class_names: tuple[str, ...], train_images, test, keras_logits, params: config.Params
) -> tuple:
    """`model_app.tflite`'s contents (the flavour MediaPipe measured fit to ship) and its report: both
    builds measured by MediaPipe on the first `export.app.test_images` test images, and the drop of the
    shipped one's accuracy on them as RGB images against Keras's (`keras_logits`, on the test images)."""
    app = params.export.app
    size = app_model.app_input_size(model.input_shape[1:], app.input_size)
    calibration = app_model.calibration_images(train_images, app.calibration_images, params.seed, size)
    builds = {
        "float32": app_model.build_app_model(model, app.input_size),
        "int8": app_model.quantize_app_model(model, calibration, app.input_size),
    }
    contents = {flavour: app_model.with_metadata(content, class_names) for flavour, content in builds.items()}
    images, labels, keras_logits = (part[: app.test_images] for part in (*test, keras_logits))
    report = app_model.measure_app(
        contents,
        (images, labels),
        keras_logits,
        app.max_int8_accuracy_drop,
        params.seed,
        app.input_size,
        app.photo_size,
    )
    shipped = report[report["flavour"]]["rgb"]["accuracy"]
    report |= {"test_images": len(labels), "accuracy_drop": round(accuracy(keras_logits, labels) - shipped, 6)}
    return contents[report["flavour"]], report


def save_outputs(
    paths: VariantPaths,
    contents: dict[str, bytes],
    app_content: bytes,
    class_list: str,
    report: dict,
    run,
    test_dataset,
) -> None:
    """Write the files, labels and report, log them to the open run (the measurements linked to its
    model and the test set), then put them in place together: the old outputs stay as they were
    until all the new ones are complete."""
    files = [paths.tflite(flavour) for flavour in contents]
    with staged_outputs(*files, paths.app_tflite, paths.labels, paths.tflite_metrics) as staged:
        for flavour, content in contents.items():
            write_bytes(staged[paths.tflite(flavour)], content)
        write_bytes(staged[paths.app_tflite], app_content)
        write_text(staged[paths.labels], class_list)
        write_json(staged[paths.tflite_metrics], report)
        tracking.log_metrics({"tflite": report}, model_id=run.model_id, dataset=test_dataset)
        tracking.log_artifacts(*staged.values())


def app_line(name: str, app: dict) -> str:
    """E.g. `cnn app (int8, MediaPipe): accuracy 0.9315 RGB, 0.9174 photo-like, 441,305 bytes, 0.89 ms/image`."""
    shipped = app[app["flavour"]]
    photo = f", {shipped['photo_like']['accuracy']:.4f} photo-like" if "photo_like" in shipped else ""
    return (
        f"{name} app ({app['flavour']}, MediaPipe): accuracy {shipped['rgb']['accuracy']:.4f} RGB{photo}, "
        f"{shipped['size_bytes']:,} bytes, {shipped['rgb']['latency_ms_median']:.2f} ms/image"
    )


def main() -> None:
    with variant_stage(__doc__, per_seed=False) as (stage, run, act_on_signal):
        name, params, paths = stage.name, stage.params, stage.paths
        model = load_keras_model(stage.seed_paths.model)
        dataset = load_dataset_info()
        class_list = labels_text(dataset.class_names, model.output_shape[-1])
        test = load_split(split_path("test"))
        train_images, _ = load_split(split_path("train"))
        act_on_signal()
        representative = representative_images(train_images, params.export.representative_images, params.seed)
        contents = convert(model, representative)
        act_on_signal()
        keras_logits = predict_logits(model, test[0])
        report, formats = measure_all(name, params, model, contents, test, keras_logits)
        tracking.log_params(formats)
        act_on_signal()
        app_content, report["app"] = app_flavour(model, dataset.class_names, train_images, test, keras_logits, params)
        tracking.log_params({"tflite.app.flavour": report["app"]["flavour"]})
        act_on_signal()
        save_outputs(paths, contents, app_content, class_list, report, run, split_dataset("test", *test, dataset.name))
    for flavour in contents:
        measured = report[flavour]
        print(
            f"{name} {flavour:>13}: accuracy {measured['accuracy']:.4f}, agreement {measured['top1_agreement']:.2%}, "
            f"{measured['size_bytes']:>9,} bytes, {measured['latency_ms_median']:.3f} ms/image"
        )
    print(app_line(name, report["app"]))


if __name__ == "__main__":
    cli.run(main)
