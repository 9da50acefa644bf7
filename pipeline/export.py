"""Stage `export@<variant>`: convert to float32 TFLite and measure the file with LiteRT on the test set.

The numbers recorded are the ones an app developer needs: accuracy of the `.tflite`
itself, how far its logits stray from Keras, how often it agrees with Keras, and its size.
"""

import contextlib
import io

import numpy as np

from pipeline import cli, config, tracking
from pipeline.artifacts import load_split, write_bytes, write_json
from pipeline.evaluate import accuracy, open_trained_variant, predict_logits

with cli.quiet_native_logs():  # TensorFlow's C++ start-up messages
    import tensorflow as tf
    from ai_edge_litert.interpreter import Interpreter

TFLITE_BATCH = 1000


def convert_to_tflite(model) -> bytes:
    """The model as a float32 TensorFlow Lite flatbuffer (builtin ops only)."""
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    # The converter prints its temporary SavedModel's signature on stdout.
    with contextlib.redirect_stdout(io.StringIO()):
        return converter.convert()


def run_tflite(model_content: bytes, images: np.ndarray, threads: int, batch_size: int = TFLITE_BATCH) -> np.ndarray:
    """Logits of a `.tflite` model for every image, run with LiteRT in batches."""
    with cli.quiet_native_logs():  # "Created TensorFlow Lite XNNPACK delegate"
        interpreter = Interpreter(model_content=model_content, num_threads=threads)
    input_index = interpreter.get_input_details()[0]["index"]
    output_index = interpreter.get_output_details()[0]["index"]
    outputs = []
    for start in range(0, len(images), batch_size):
        batch = images[start : start + batch_size].astype(np.float32)
        interpreter.resize_tensor_input(input_index, batch.shape)
        interpreter.allocate_tensors()
        interpreter.set_tensor(input_index, batch)
        interpreter.invoke()
        outputs.append(interpreter.get_tensor(output_index).copy())
    return np.concatenate(outputs)


def compare_with_keras(tflite_logits: np.ndarray, keras_logits: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """The TFLite file's own accuracy and how closely it reproduces the Keras model."""
    return {
        "tflite_accuracy": round(accuracy(tflite_logits, labels), 6),
        "keras_accuracy": round(accuracy(keras_logits, labels), 6),
        "tflite_max_abs_logit_diff": float(np.abs(tflite_logits - keras_logits).max()),
        "tflite_top1_agreement": round(float((tflite_logits.argmax(1) == keras_logits.argmax(1)).mean()), 6),
    }


def main() -> None:
    name, params, paths, model = open_trained_variant(__doc__)
    images, labels = load_split(config.split_path("test"))
    content = convert_to_tflite(model)
    tflite_logits = run_tflite(content, images, params.threads)
    metrics = compare_with_keras(tflite_logits, predict_logits(model, images), labels)
    metrics["tflite_size_bytes"] = len(content)
    with tracking.variant_run(name, paths.run_file, params.tracking.experiment, new=False, tags={}):
        write_bytes(paths.tflite, content)
        write_json(paths.tflite_metrics, metrics)
        tracking.log_metrics(metrics)
        tracking.log_params(
            {"tflite_input": "float32[batch, 28, 28] raw pixels 0-255", "tflite_output": "float32[batch, 10] logits"}
        )
        tracking.log_artifacts(paths.tflite, paths.tflite_metrics)
    print(
        f"{name}: tflite accuracy {metrics['tflite_accuracy']:.4f}, agreement {metrics['tflite_top1_agreement']:.4%}, "
        f"{len(content):,} bytes"
    )


if __name__ == "__main__":
    cli.run(main)
