"""One-signature SavedModels converted per flavour: the signature's names and the int8 file's types."""

import numpy as np
import pytest

from pipeline.core.errors import PipelineError
from pipeline.core.frameworks import keras, tf
from pipeline.core.paths import TFLITE_FLAVOURS
from pipeline.on_device import conversion
from pipeline.on_device.litert import SIGNATURE, Interpreter


@pytest.fixture(scope="module")
def model() -> keras.Model:
    return keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])


def _signature(model: keras.Model, dtype=tf.float32) -> conversion.Signature:
    return conversion.Signature(
        function=lambda values: {"out": model(tf.cast(values, tf.float32), training=False)},
        spec=tf.TensorSpec([None, 4], dtype, name="values"),
    )


def test_every_flavour_has_the_one_named_signature(model):
    representative = np.random.default_rng(0).uniform(0, 1, size=(10, 4)).astype(np.float32)
    files = conversion.convert(model, _signature(model), TFLITE_FLAVOURS, representative)
    assert list(files) == list(TFLITE_FLAVOURS)
    for content in files.values():
        assert Interpreter(model_content=content).get_signature_list() == {
            SIGNATURE: {"inputs": ["values"], "outputs": ["out"]}
        }


def test_int8_takes_the_input_and_output_types_asked_for(model):
    representative = np.random.default_rng(0).integers(0, 256, size=(10, 4), dtype=np.uint8)
    types = conversion.Int8Types(input=tf.uint8, output=tf.float32)
    (content,) = conversion.convert(model, _signature(model, tf.uint8), ("int8",), representative, types).values()
    interpreter = Interpreter(model_content=content)
    assert interpreter.get_input_details()[0]["dtype"] == np.uint8
    assert interpreter.get_output_details()[0]["dtype"] == np.float32


def test_an_unknown_flavour_is_refused_by_name(model):
    with pytest.raises(PipelineError, match="unknown .tflite flavour 'int4': one of float32, "):
        conversion.convert(model, _signature(model), ("int4",))


def test_int8_without_representative_inputs_is_refused(model):
    with pytest.raises(PipelineError, match="the int8 flavour needs representative inputs"):
        conversion.convert(model, _signature(model), ("int8",), np.zeros((0, 4), np.float32))
