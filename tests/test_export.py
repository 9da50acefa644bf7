import numpy as np
import pytest
from ai_edge_litert.interpreter import Interpreter

from pipeline.config import VariantParams
from pipeline.export import compare_with_keras, convert_to_tflite, run_tflite
from pipeline.models import build_model


@pytest.fixture(scope="module")
def cnn_and_tflite():
    model = build_model(VariantParams(model="cnn", filters=(8, 16), hidden_units=16, dropout=0.2))
    return model, convert_to_tflite(model)


def test_tflite_takes_raw_float_pixels(cnn_and_tflite):
    _, content = cnn_and_tflite
    interpreter = Interpreter(model_content=content)
    (input_detail,) = interpreter.get_input_details()
    (output_detail,) = interpreter.get_output_details()
    assert list(input_detail["shape"]) == [1, 28, 28]
    assert input_detail["dtype"] == np.float32
    assert list(output_detail["shape"]) == [1, 10]


def test_tflite_reproduces_keras_logits_in_any_batch_size(cnn_and_tflite):
    model, content = cnn_and_tflite
    images = np.random.default_rng(0).integers(0, 256, size=(25, 28, 28), dtype=np.uint8)
    tflite_logits = run_tflite(content, images, threads=2, batch_size=10)  # 10 + 10 + 5
    keras_logits = model.predict(images.astype(np.float32), verbose=0)
    assert tflite_logits.shape == (25, 10)
    np.testing.assert_allclose(tflite_logits, keras_logits, atol=1e-4)


def test_compare_with_keras_counts_disagreements():
    keras_logits = np.eye(10, dtype=np.float32)[[0, 1, 2, 3]]
    tflite_logits = keras_logits.copy()
    tflite_logits[3] = np.eye(10)[4] * 2  # disagrees on the last image
    labels = np.array([0, 1, 2, 4])
    metrics = compare_with_keras(tflite_logits, keras_logits, labels)
    assert metrics["tflite_top1_agreement"] == 0.75
    assert metrics["tflite_accuracy"] == 1.0
    assert metrics["keras_accuracy"] == 0.75
    assert metrics["tflite_max_abs_logit_diff"] == pytest.approx(2.0)
