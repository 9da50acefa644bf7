import numpy as np
import pytest

from pipeline.core import config
from pipeline.core.config import ExportParams
from pipeline.core.errors import PipelineError
from pipeline.on_device import litert
from pipeline.on_device.measurement import keras_latency_ms, measure, measure_all


@pytest.fixture(scope="module")
def keras_logits(trained_cnn, real_data):
    return trained_cnn.predict(real_data.test_images.astype(np.float32), verbose=0)


def test_measure_reports_accuracy_agreement_size_and_speed(model_files, real_data, keras_logits):
    model = litert.TFLiteModel.load(model_files["int8"], threads=2)
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


def test_a_file_that_is_no_model_is_named_in_the_report_s_error(trained_cnn, real_data, keras_logits):
    params = config.load_params()
    test = real_data.test_images[:40], real_data.test_labels[:40]
    with pytest.raises(PipelineError, match="^cnn float32 is not a TensorFlow Lite model"):
        measure_all("cnn", params, trained_cnn, {"float32": b"not a model" * 10}, test, keras_logits[:40])
