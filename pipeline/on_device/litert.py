"""Running a `.tflite` file with LiteRT, as an app would: by its serving signature, on raw pixels.

Every file the export stage writes has one signature, `serving_default`, taking `pixels`
(`[batch, 28, 28]` grayscale, 0-255, light on dark) and returning `logits` (`[batch, classes]`).
Float files take and return float32; the int8 file takes and returns int8, so the pixels are
quantized with the input's scale and zero point and the logits dequantized with the output's.
This module needs LiteRT and numpy only, not TensorFlow, so it loads in well under a second.
"""

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.core.errors import PipelineError
from pipeline.core.native_logs import quiet_native_logs
from pipeline.on_device.tflite_file import read_tflite

with quiet_native_logs():
    from ai_edge_litert.interpreter import Interpreter, SignatureRunner

SIGNATURE = "serving_default"
INPUT_NAME = "pixels"
OUTPUT_NAME = "logits"
# The app flavour's signature (pipeline/on_device/app_model.py): one uint8 RGB `image` in, softmax `scores` out.
APP_INPUT_NAME, APP_OUTPUT_NAME = "image", "scores"


@dataclass(frozen=True)
class Quantization:
    """A tensor's element type and the affine map `real = scale * (stored - zero_point)`."""

    dtype: type
    scale: float
    zero_point: int

    @property
    def quantized(self) -> bool:
        return np.issubdtype(self.dtype, np.integer)

    def quantize(self, values: np.ndarray) -> np.ndarray:
        if not self.quantized:
            return values.astype(self.dtype)
        limits = np.iinfo(self.dtype)
        stored = np.round(values.astype(np.float32) / self.scale + self.zero_point)
        return np.clip(stored, limits.min, limits.max).astype(self.dtype)

    def dequantize(self, stored: np.ndarray) -> np.ndarray:
        if not self.quantized:
            return stored.astype(np.float32)
        return (stored.astype(np.float32) - self.zero_point) * np.float32(self.scale)

    def describe(self, shape: str) -> str:
        """E.g. `float32[batch, 28, 28]` or `int8[batch, 28, 28], real = 1 * (q - -128)`."""
        name = np.dtype(self.dtype).name
        if not self.quantized:
            return f"{name}{shape}"
        return f"{name}{shape}, real = {self.scale:.6g} * (q - {self.zero_point})"


LITERT_ERRORS = (ValueError, RuntimeError)  # what LiteRT raises for a file it cannot load or run


def load_signature_runner(
    content: bytes, threads: int, source: str, names: tuple[str, str], hint: str
) -> tuple[Interpreter, SignatureRunner]:
    """The interpreter of a `.tflite` file's `content` (with `threads` threads, its tensors allocated) and
    its `serving_default` signature's runner, which must take and return `names` (input, output). Else a
    one-line PipelineError naming `source`: not a TensorFlow Lite file, or another signature (`hint` then
    ends the line: what the file is, or what to do)."""
    try:
        with quiet_native_logs():  # allocating prints "Created TensorFlow Lite XNNPACK delegate"
            interpreter = Interpreter(model_content=bytes(content), num_threads=threads)
            interpreter.allocate_tensors()
            signatures = interpreter.get_signature_list()
    except LITERT_ERRORS as error:
        raise PipelineError(f"{source} is not a TensorFlow Lite model: {error}".splitlines()[0]) from error
    if signatures.get(SIGNATURE) != {"inputs": [names[0]], "outputs": [names[1]]}:
        raise PipelineError(
            f"{source} has no `{SIGNATURE}` signature taking `{names[0]}` and returning `{names[1]}` "
            f"(it has {signatures or 'none'}): {hint}"
        )
    return interpreter, interpreter.get_signature_runner(SIGNATURE)


def _quantization(detail: dict) -> Quantization:
    scale, zero_point = detail["quantization"]
    return Quantization(detail["dtype"], float(scale), int(zero_point))


class TFLiteModel:
    """A `.tflite` classifier behind its `serving_default` signature: raw pixels in, float32 logits out."""

    def __init__(self, content: bytes, threads: int, source: str = "model"):
        hint = "export it with `python -m pipeline.export`"
        self.interpreter, self.runner = load_signature_runner(content, threads, source, (INPUT_NAME, OUTPUT_NAME), hint)
        details = self.runner.get_input_details()[INPUT_NAME], self.runner.get_output_details()[OUTPUT_NAME]
        self.input_shape = tuple(int(size) for size in details[0]["shape_signature"][1:])
        output_shape = details[1]["shape_signature"]
        if len(output_shape) != 2:
            raise PipelineError(f"{source} returns shape {list(output_shape)}, not [batch, classes]")
        self.num_classes = int(output_shape[-1])
        # A file converted with a fixed batch size runs only at that size; -1 means any.
        self.fixed_batch = max(int(details[0]["shape_signature"][0]), 0) or None
        self.input, self.output = (_quantization(detail) for detail in details)
        self.source = source

    @classmethod
    def load(cls, path: Path, threads: int) -> "TFLiteModel":
        return cls(read_tflite(path), threads, source=str(path))

    @staticmethod
    def is_app_flavour(path: Path) -> bool:
        """Whether the file has the app flavour's signature (MediaPipe runs it, not this class); False for
        any other file, unreadable ones included, which `load` then names."""
        try:
            with quiet_native_logs():
                signatures = Interpreter(model_path=str(path)).get_signature_list()
        except (OSError, ValueError, RuntimeError):
            return False
        return signatures.get(SIGNATURE) == {"inputs": [APP_INPUT_NAME], "outputs": [APP_OUTPUT_NAME]}

    def describe(self) -> dict[str, str]:
        """The input and output formats, as the README and MLflow state them."""
        shape = ", ".join(str(size) for size in self.input_shape)
        return {
            "input": self.input.describe(f"[batch, {shape}]") + " raw pixels 0-255, light on dark",
            "output": self.output.describe(f"[batch, {self.num_classes}]") + " logits",
        }

    def invoke(self, model_input: np.ndarray) -> np.ndarray:
        """One call of the signature on already-quantized input: the raw output tensor."""
        try:
            return self.runner(**{INPUT_NAME: model_input})[OUTPUT_NAME]
        except LITERT_ERRORS as error:
            raise PipelineError(f"{self.source} failed to run: {error}".splitlines()[0]) from error

    def logits(self, pixels: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """Float32 logits for images of raw 0-255 pixels, run in batches (of the file's own batch size
        when it has a fixed one)."""
        batch_size = self.fixed_batch or batch_size
        pixels = pixels.reshape(len(pixels), *self.input_shape)
        batches = [
            self.output.dequantize(self.invoke(self.input.quantize(pixels[start : start + batch_size])))
            for start in range(0, len(pixels), batch_size)
        ]
        return np.concatenate(batches)


def throughput(model: TFLiteModel, pixels: np.ndarray, batch_size: int) -> tuple[np.ndarray, float]:
    """Logits of every image and the images per second it took, at `batch_size`."""
    model.logits(pixels[:batch_size], batch_size)  # warm-up: allocates tensors at this size
    start = time.perf_counter()
    logits = model.logits(pixels, batch_size)
    return logits, len(pixels) / (time.perf_counter() - start)
