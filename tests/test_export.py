import dataclasses
import sys

import numpy as np
import pytest

from pipeline import config, litert
from pipeline.config import AugmentParams, ExportParams, VariantParams
from pipeline.export import convert, keras_latency_ms, measure, representative_images
from pipeline.models import build_model
from pipeline.paths import APP_FLAVOURS, TFLITE_FLAVOURS, SeedPaths, VariantPaths
from pipeline.variant_stage import open_stage


@pytest.fixture(scope="module")
def exported(trained_cnn, real_data):
    representative = representative_images(real_data.train_images, count=200, seed=0)
    return convert(trained_cnn, representative)


@pytest.fixture(scope="module")
def keras_logits(trained_cnn, real_data):
    return trained_cnn.predict(real_data.test_images.astype(np.float32), verbose=0)


def test_every_flavour_is_written_and_quantized_files_are_smaller(exported):
    assert list(exported) == list(TFLITE_FLAVOURS)
    sizes = {flavour: len(content) for flavour, content in exported.items()}
    assert sizes["int8"] < sizes["float16"] < sizes["float32"]
    assert sizes["dynamic_range"] < sizes["float16"]


@pytest.mark.parametrize("flavour", TFLITE_FLAVOURS)
def test_every_flavour_runs_by_its_signature_and_matches_keras(exported, flavour, real_data, keras_logits):
    model = litert.TFLiteModel(exported[flavour], threads=2)
    logits = model.logits(real_data.test_images, batch_size=300)
    keras_accuracy = (keras_logits.argmax(1) == real_data.test_labels).mean()
    assert keras_accuracy > 0.75  # the fixture's CNN really learned
    accuracy = (logits.argmax(1) == real_data.test_labels).mean()
    agreement = (logits.argmax(1) == keras_logits.argmax(1)).mean()
    if flavour == "float32":
        assert agreement >= 0.999
        np.testing.assert_allclose(logits, keras_logits, atol=1e-3)
    else:
        assert abs(accuracy - keras_accuracy) <= 0.01, flavour
        assert agreement >= 0.97, flavour


def test_float_files_take_float_pixels_and_int8_takes_int8(exported):
    for flavour in ("float32", "dynamic_range", "float16"):
        model = litert.TFLiteModel(exported[flavour], threads=1)
        assert model.input.dtype == np.float32 and model.output.dtype == np.float32
        assert model.input_shape == (28, 28) and model.num_classes == 10
    int8 = litert.TFLiteModel(exported["int8"], threads=1)
    assert int8.input.dtype == np.int8 and int8.output.dtype == np.int8
    # Calibrated on raw pixels 0-255: one step per grey level, so the input loses nothing.
    assert int8.input.scale == pytest.approx(1.0) and int8.input.zero_point == -128
    assert int8.describe()["input"].startswith("int8[batch, 28, 28], real = 1 * (q - -128)")


def test_only_builtin_ops_no_flex_ops(exported):
    for content in exported.values():
        assert b"Flex" not in content  # Select-TF ops would need the Flex delegate on the phone


def test_representative_images_are_a_seeded_sample_of_the_training_split(real_data):
    first = representative_images(real_data.train_images, count=50, seed=3)
    assert first.shape == (50, 28, 28)
    np.testing.assert_array_equal(first, representative_images(real_data.train_images, count=50, seed=3))
    assert not np.array_equal(first, representative_images(real_data.train_images, count=50, seed=4))


def test_measure_reports_accuracy_agreement_size_and_speed(exported, real_data, keras_logits):
    model = litert.TFLiteModel(exported["int8"], threads=2)
    figures = measure(
        model,
        real_data.test_images,
        real_data.test_labels,
        keras_logits,
        ExportParams(latency_runs=20, throughput_batch=100),
    )
    assert set(figures) == {
        "accuracy",
        "accuracy_drop",
        "top1_agreement",
        "max_abs_probability_diff",
        "latency_ms_median",
        "latency_ms_p95",
        "throughput_images_per_s",
    }
    keras_accuracy = (keras_logits.argmax(1) == real_data.test_labels).mean()
    assert figures["accuracy_drop"] == pytest.approx(keras_accuracy - figures["accuracy"], abs=1e-6)
    assert 0 < figures["latency_ms_median"] <= figures["latency_ms_p95"]
    assert figures["throughput_images_per_s"] > 0


def test_keras_latency_is_measured_on_single_images(trained_cnn, real_data):
    timed = keras_latency_ms(trained_cnn, real_data.test_images)
    assert 0 < timed["keras_predict_latency_ms_median"] <= timed["keras_predict_latency_ms_p95"]


def _op_names(content: bytes) -> list[str]:
    interpreter = litert.TFLiteModel(content, threads=1).interpreter
    return [op["op_name"] for op in interpreter._get_ops_details()]


def test_augmentation_layers_are_not_exported_and_predictions_match_keras(real_data):
    augment = AugmentParams(flip=True, rotation=0.1, zoom=0.1, translation=0.1)
    spec = VariantParams(model="cnn", filters=(8,), hidden_units=(16,))
    augmented = build_model(dataclasses.replace(spec, augment=augment))
    plain = build_model(spec)
    representative = real_data.train_images[:20]
    augmented_files, plain_files = convert(augmented, representative), convert(plain, representative)
    for flavour in TFLITE_FLAVOURS:
        assert _op_names(augmented_files[flavour]) == _op_names(plain_files[flavour]), flavour
    images = real_data.test_images[:50]
    logits = litert.TFLiteModel(augmented_files["float32"], threads=1).logits(images)
    np.testing.assert_allclose(logits, augmented(images.astype(np.float32), training=False), atol=1e-4)


def test_the_app_flavour_shipped_is_the_build_mediapipe_measured_fit_and_carries_the_labels(
    trained_cnn, real_data, keras_logits
):
    from pipeline import app_model
    from pipeline.dataset import CLASS_NAMES
    from pipeline.export import app_flavour
    from pipeline.mediapipe_client import category_names

    params = config.parse_params(
        {
            "seed": 0,
            "seeds": [0],
            "threads": 2,
            "data": {},
            "run_variants": ["cnn"],
            "variants": {"cnn": {"model": "cnn"}},
            "export": {"app": {"calibration_images": 50, "test_images": 100}},
        }
    )
    test = (real_data.test_images, real_data.test_labels)
    content, report = app_flavour(trained_cnn, CLASS_NAMES, real_data.train_images, test, keras_logits, params)
    assert report["flavour"] in APP_FLAVOURS and report["test_images"] == 100
    assert len(content) == report[report["flavour"]]["size_bytes"]
    shipped = report[report["flavour"]]["rgb"]["accuracy"]
    keras = float(np.mean(keras_logits[:100].argmax(1) == test[1][:100]))
    assert report["accuracy_drop"] == pytest.approx(keras - shipped, abs=1e-6)
    assert report["accuracy_drop"] <= 0.02  # MediaPipe's scores on block-upscaled images are Keras's, or nearly
    image = app_model.as_rgb(test[0][:1], (224, 224))[0]
    assert sorted(category_names(content, image)) == sorted(CLASS_NAMES)


def test_export_ships_the_first_training_seeds_model_and_evaluate_reads_the_seed_it_is_given(monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)  # a local store: nothing to reach
    params = config.load_params()
    name = params.run_variants[0]
    monkeypatch.setattr(sys, "argv", ["export", name])
    stage = open_stage(None, per_seed=False)
    assert (stage.name, stage.seed) == (name, params.shipped_seed) and params.shipped_seed == params.seeds[0]
    assert (stage.paths, stage.seed_paths) == (VariantPaths(name), SeedPaths(name, params.seeds[0]))
    monkeypatch.setattr(sys, "argv", ["evaluate", name, "5"])
    stage = open_stage(None, per_seed=True)
    assert (stage.seed, stage.seed_paths) == (5, SeedPaths(name, 5))
