"""A Keras model as TensorFlow Lite flatbuffers of one named signature, one per flavour, builtin ops only.

The model is written as a SavedModel whose one signature, `serving_default`, is a given function of one
named input, then converted once per flavour (paths.TFLITE_FLAVOURS): float32; dynamic-range (int8
weights, float activations); float16 weights; full-integer int8, its activations calibrated on
representative inputs, with int8 or uint8 input and int8 or float32 output as the caller asks.
"""

import contextlib
import io
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.core.errors import PipelineError
from pipeline.core.frameworks import keras, tf
from pipeline.core.native_logs import quiet_native_logs
from pipeline.core.paths import TFLITE_FLAVOURS
from pipeline.on_device.litert import INPUT_NAME, SIGNATURE


@dataclass(frozen=True)
class Signature:
    """The converted file's `serving_default`: `function` of one input `spec` (its name is the input's)."""

    function: Callable
    spec: tf.TensorSpec


@dataclass(frozen=True)
class Int8Types:
    """The input and output types of a full-integer int8 file."""

    input: tf.DType = tf.int8
    output: tf.DType = tf.int8


def write_saved_model(model: keras.Model, signature: Signature, directory: Path) -> None:
    """A SavedModel of `model` whose one signature, `serving_default`, is `signature`."""
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(name=SIGNATURE, fn=signature.function, input_signature=[signature.spec])
    archive.write_out(str(directory), verbose=False)


def converter_for(
    saved_model: Path,
    flavour: str,
    representative: np.ndarray | None = None,
    input_name: str = INPUT_NAME,
    int8_types: Int8Types = Int8Types(),
) -> tf.lite.TFLiteConverter:
    """A converter set up for one flavour, builtin ops only (no Flex/Select-TF ops); int8 is calibrated on
    `representative`, each one the signature's input `input_name`."""
    if flavour not in TFLITE_FLAVOURS:
        raise PipelineError(f"unknown .tflite flavour {flavour!r}: one of {', '.join(TFLITE_FLAVOURS)}")
    if flavour == "int8" and (representative is None or len(representative) == 0):
        raise PipelineError("the int8 flavour needs representative inputs to calibrate its activations on")
    converter = tf.lite.TFLiteConverter.from_saved_model(str(saved_model), signature_keys=[SIGNATURE])
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if flavour == "float32":
        return converter
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if flavour == "float16":
        converter.target_spec.supported_types = [tf.float16]
    elif flavour == "int8":
        converter.representative_dataset = lambda: ({input_name: sample[None]} for sample in representative)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = int8_types.input
        converter.inference_output_type = int8_types.output
    return converter


def convert(
    model: keras.Model,
    signature: Signature,
    flavours: tuple[str, ...],
    representative: np.ndarray | None = None,
    int8_types: Int8Types = Int8Types(),
) -> dict[str, bytes]:
    """Each of `flavours` of `model` behind `signature`, as a flatbuffer (`converter_for`)."""
    input_name = signature.spec.name
    with tempfile.TemporaryDirectory() as directory:
        write_saved_model(model, signature, Path(directory))
        # The converter prints to stdout and warns about its own use of tf.lite.Interpreter.
        with contextlib.redirect_stdout(io.StringIO()), quiet_native_logs(), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*tf.lite.Interpreter is deprecated", category=UserWarning)
            return {
                flavour: converter_for(Path(directory), flavour, representative, input_name, int8_types).convert()
                for flavour in flavours
            }
