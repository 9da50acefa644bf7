"""The app flavour the export stage ships: both builds with metadata, measured (LiteRT on the whole test set as
RGB, MediaPipe on a stratified sample), the one fit to ship chosen, and its report."""

from pipeline.core import config
from pipeline.core.frameworks import keras
from pipeline.on_device.app_input import app_input_size
from pipeline.on_device.app_measurement import measure_app
from pipeline.on_device.app_metadata import with_metadata
from pipeline.on_device.app_model import build_app_model, quantize_app_model
from pipeline.on_device.photo_like import calibration_images
from pipeline.reporting.metrics import accuracy


def app_flavour(
    model: keras.Model, class_names: tuple[str, ...], train_images, test, keras_logits, params: config.Params
) -> tuple:
    """`model_app.tflite`'s contents (the build measured fit to ship) and its report: both builds measured on
    the first `export.app.test_images` test images (app_measurement.measure_app), and the drop of the shipped
    one's accuracy on all of them as RGB images against Keras's (`keras_logits`, on the test images)."""
    app = params.export.app
    size = app_input_size(model.input_shape[1:], app.input_size)
    calibration = calibration_images(train_images, app.calibration_images, params.seed, size)
    builds = {
        "float32": build_app_model(model, app.input_size),
        "int8": quantize_app_model(model, calibration, app.input_size),
    }
    contents = {flavour: with_metadata(content, class_names) for flavour, content in builds.items()}
    images, labels, keras_logits = (part[: app.test_images] for part in (*test, keras_logits))
    report = measure_app(
        contents,
        (images, labels),
        keras_logits,
        app,
        seed=params.seed,
        threads=params.threads,
        confidence=params.compare.confidence,
    )
    shipped = report[report["flavour"]]["rgb"]["accuracy"]
    report["accuracy_drop"] = round(accuracy(keras_logits, labels) - shipped, 6)
    return contents[report["flavour"]], report
