"""Stage `export@<variant>`: the model of the shipped seed (the first of `seeds`) as four `.tflite` files,
each measured with LiteRT.

Flavours (paths.TFLITE_FLAVOURS, made by pipeline/on_device/flavours.py): float32; dynamic-range (int8
weights, float activations); float16 weights; full-integer int8 (int8 weights and activations, int8 input
and output, activations calibrated on training images). Every file has a `serving_default` signature
taking `pixels` (the dataset's image shape) and returning `logits`, so
`Interpreter.get_signature_runner()` works. Beside them, `labels.txt` names the classes, one a
line in output order, as TFLite apps ship it.

The app flavour, `model_app.tflite` (pipeline/on_device/app_release.py), is what an app hands MediaPipe's
ImageClassifier: uint8 RGB in, the preparation and softmax inside, the labels and normalization in
its metadata; int8 when it measures within `export.app.max_int8_accuracy_drop` of its float32 build on
every test set, else float32.

For each file (pipeline/on_device/measurement.py), on the whole test set: accuracy, top-1 agreement with Keras, largest
probability difference, size, single-image latency (median, p95) and throughput at a larger batch, all with
`threads` threads. They land in `reports/variants/<variant>/tflite.json` and in MLflow.
The app flavour's two builds (pipeline/on_device/app_measurement.py), under `app` in the same file: on the
test set as RGB images, accuracy and agreement with Keras, by LiteRT running the very file one image a
call (MediaPipe's scores exactly, several times faster); on a seeded class-stratified sample of
`export.app.mediapipe_images` of them, MediaPipe itself: its latency and a check that it scores the RGB
images as LiteRT did, and for a Fashion-MNIST-style model, photo-like images (dark on light, larger,
tinted, JPEG): accuracy with its exact interval, agreement with Keras, latency. And each build's size.
"""

from pipeline.core import cli

if __name__ == "__main__":  # a mistyped params.yaml fails now, not after TensorFlow's import
    cli.check_params_early(takes_variant=True)

from pipeline.core.errors import PipelineError
from pipeline.core.files import staged_outputs, write_bytes, write_json, write_text
from pipeline.core.paths import VariantPaths, split_path
from pipeline.data.dataset_info import load_dataset_info
from pipeline.data.split_files import load_split
from pipeline.on_device.app_release import app_flavour
from pipeline.on_device.flavours import convert, representative_images
from pipeline.on_device.measurement import measure_all
from pipeline.tracking import mirror
from pipeline.tracking.datasets import as_mlflow_dataset
from pipeline.tracking.stage_run import variant_stage
from pipeline.training.keras_file import load_keras_model, predict_logits


def labels_text(class_names: tuple[str, ...], num_outputs: int) -> str:
    """`labels.txt`: one class name a line, in the model's output order."""
    if len(class_names) != num_outputs:
        raise PipelineError(
            f"the model scores {num_outputs} classes but the prepared dataset has {len(class_names)}: "
            "retrain it (dvc repro)"
        )
    return "".join(f"{name}\n" for name in class_names)


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
        mirror.log_metrics({"tflite": report}, model_id=run.model_id, dataset=test_dataset)
        mirror.log_artifacts(*staged.values())


def app_line(name: str, app: dict) -> str:
    """E.g. `cnn app (int8): accuracy 0.9315 RGB (10,000 images), 0.9174 photo-like (0.8990-0.9330, 1,000
    images), 441,305 bytes, 0.89 ms/image in MediaPipe`."""
    shipped = app[app["flavour"]]
    rgb, photo = shipped["rgb"], shipped.get("photo_like")
    photo_text = (
        f", {photo['accuracy']:.4f} photo-like ({photo['accuracy_ci_low']:.4f}-{photo['accuracy_ci_high']:.4f}, "
        f"{photo['images']:,} images)"
        if photo
        else ""
    )
    return (
        f"{name} app ({app['flavour']}): accuracy {rgb['accuracy']:.4f} RGB ({rgb['images']:,} images){photo_text}, "
        f"{shipped['size_bytes']:,} bytes, {rgb['latency_ms_median']:.2f} ms/image in MediaPipe"
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
        mirror.log_params(formats)
        act_on_signal()
        app_content, report["app"] = app_flavour(model, dataset.class_names, train_images, test, keras_logits, params)
        mirror.log_params({"tflite.app.flavour": report["app"]["flavour"]})
        act_on_signal()
        save_outputs(
            paths, contents, app_content, class_list, report, run, as_mlflow_dataset("test", *test, dataset.name)
        )
    for flavour in contents:
        measured = report[flavour]
        print(
            f"{name} {flavour:>13}: accuracy {measured['accuracy']:.4f}, agreement {measured['top1_agreement']:.2%}, "
            f"{measured['size_bytes']:>9,} bytes, {measured['latency_ms_median']:.3f} ms/image"
        )
    print(app_line(name, report["app"]))


if __name__ == "__main__":
    cli.run(main)
