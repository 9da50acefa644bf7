import numpy as np
import pytest

from pipeline.core.errors import PipelineError
from pipeline.on_device import litert


def test_int8_quantization_maps_every_pixel_value_exactly():
    int8 = litert.Quantization(np.int8, scale=1.0, zero_point=-128)
    pixels = np.arange(256, dtype=np.float32)
    stored = int8.quantize(pixels)
    assert stored.dtype == np.int8 and stored.min() == -128 and stored.max() == 127
    np.testing.assert_array_equal(int8.dequantize(stored), pixels)


def test_quantization_clips_out_of_range_values_and_dequantizes_by_scale():
    int8 = litert.Quantization(np.int8, scale=0.5, zero_point=-10)
    np.testing.assert_array_equal(int8.quantize(np.array([-100.0, 0.0, 100.0])), [-128, -10, 127])
    np.testing.assert_allclose(int8.dequantize(np.array([-10, 0, 10], np.int8)), [0.0, 5.0, 10.0])


def test_float_tensors_pass_through():
    float32 = litert.Quantization(np.float32, scale=0.0, zero_point=0)
    values = np.array([[0.5, 255.0]], np.float64)
    assert float32.quantize(values).dtype == np.float32
    np.testing.assert_array_equal(float32.dequantize(values.astype(np.float32)), values)
    assert float32.describe("[batch, 10]") == "float32[batch, 10]"


def test_bytes_that_are_not_a_model_are_refused_by_name():
    with pytest.raises(PipelineError, match=r"^photo.png is not a TensorFlow Lite model"):
        litert.TFLiteModel(b"\x89PNG\r\n\x1a\n" + bytes(100), threads=1, source="photo.png")


def test_a_missing_file_is_refused_by_name(tmp_path):
    with pytest.raises(PipelineError, match=r"cannot read .*nothing.tflite"):
        litert.TFLiteModel.load(tmp_path / "nothing.tflite", threads=1)


def test_a_model_without_the_serving_signature_is_refused(trained_cnn):
    import tensorflow as tf

    content = tf.lite.TFLiteConverter.from_keras_model(trained_cnn).convert()  # output named "output_0"
    with pytest.raises(PipelineError, match=r"has no `serving_default` signature .* export it with"):
        litert.TFLiteModel(content, threads=1, source="other.tflite")
