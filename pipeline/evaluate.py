"""Stage `evaluate@<variant>`: test metrics, per-class scores, confusion matrix and prediction grid."""

import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from pipeline import cli, config, tracking
from pipeline.artifacts import load_split, save_figure, signals_deferred, staged_outputs, write_json, write_text
from pipeline.litert import softmax
from pipeline.plots import plot_confusion, plot_predictions

with cli.quiet_native_logs():  # TensorFlow's C++ start-up messages
    import keras

PREDICT_BATCH = 1024


def load_model(path: Path) -> keras.Model:
    """Load a trained `.keras` model without running any code it may carry (nor its training loss)."""
    if not path.is_file():
        raise cli.PipelineError(f"{path} is missing: run the train stage first (dvc repro)")
    if not zipfile.is_zipfile(path):  # Keras would report "File not found"
        raise cli.PipelineError(f"{path} is not a loadable Keras model: not a .keras (zip) file, truncated or corrupt")
    try:
        return keras.models.load_model(path, compile=False, safe_mode=True)
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as error:
        raise cli.PipelineError(f"{path} is not a loadable Keras model: {error}".splitlines()[0]) from error


def predict_logits(model: keras.Model, images: np.ndarray) -> np.ndarray:
    return model.predict(images.astype(np.float32), batch_size=PREDICT_BATCH, verbose=0)


def cross_entropy(logits: np.ndarray, labels: np.ndarray) -> float:
    """Mean sparse cross-entropy of logits, the loss the models are trained on."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probabilities = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return float(-log_probabilities[np.arange(len(labels)), labels].mean())


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray, num_classes: int) -> np.ndarray:
    """Counts with true classes as rows and predicted classes as columns."""
    return np.bincount(labels * num_classes + predicted, minlength=num_classes**2).reshape(num_classes, num_classes)


def per_class_scores(matrix: np.ndarray, class_names) -> dict[str, dict[str, float]]:
    """Precision, recall and F1 of each class from a confusion matrix."""
    true_positives = np.diag(matrix).astype(float)
    precision = np.divide(
        true_positives, matrix.sum(axis=0), out=np.zeros_like(true_positives), where=matrix.sum(axis=0) > 0
    )
    recall = np.divide(
        true_positives, matrix.sum(axis=1), out=np.zeros_like(true_positives), where=matrix.sum(axis=1) > 0
    )
    denominator = precision + recall
    f1 = np.divide(2 * precision * recall, denominator, out=np.zeros_like(denominator), where=denominator > 0)
    return {
        name: {"precision": round(float(p), 6), "recall": round(float(r), 6), "f1": round(float(f), 6)}
        for name, p, r, f in zip(class_names, precision, recall, f1)
    }


def accuracy(logits: np.ndarray, labels: np.ndarray) -> float:
    return float((logits.argmax(axis=1) == labels).mean())


def evaluate_model(model: keras.Model, splits: dict[str, tuple[np.ndarray, np.ndarray]], class_names) -> dict:
    """Headline metrics on every split, the train−test gap and per-class test scores."""
    logits = {split: predict_logits(model, images) for split, (images, _) in splits.items()}
    labels = {split: split_labels for split, (_, split_labels) in splits.items()}
    metrics = {f"{split}_accuracy": round(accuracy(logits[split], labels[split]), 6) for split in splits}
    metrics["test_loss"] = round(cross_entropy(logits["test"], labels["test"]), 6)
    metrics["train_test_gap"] = round(metrics["train_accuracy"] - metrics["test_accuracy"], 6)
    matrix = confusion_matrix(labels["test"], logits["test"].argmax(axis=1), len(class_names))
    metrics["per_class"] = per_class_scores(matrix, class_names)
    return {"metrics": metrics, "confusion": matrix, "test_logits": logits["test"]}


def confusion_csv(labels: np.ndarray, predicted: np.ndarray, class_names) -> str:
    """One row per test image, the layout of DVC's `confusion` plot template."""
    rows = ["actual,predicted"] + [f"{class_names[a]},{class_names[p]}" for a, p in zip(labels, predicted)]
    return "\n".join(rows) + "\n"


def open_variant(description: str | None) -> tuple[str, config.Params, config.VariantPaths]:
    """For the stages after train: the variant named on the command line, the validated params
    and the variant's paths."""
    name = cli.parse_variant(description)
    params = config.load_params()
    params.variant(name)
    tracking.check_reachable()  # before the work, not after it
    return name, params, config.VariantPaths(name)


@contextmanager
def variant_stage(description: str | None) -> Iterator[tuple[str, config.Params, config.VariantPaths, Callable]]:
    """`open_variant`, inside the variant's MLflow run with Ctrl-C and SIGTERM deferred.

    Bad input fails inside the run, marking it FAILED. A signal is acted on where the stage calls
    the yielded `act_on_signal()`, between its steps (inside TensorFlow's calls an exception may
    abort the process); once the outputs are being replaced, the stage finishes first.
    """
    name, params, paths = open_variant(description)
    run = tracking.variant_run(name, paths.run_file, params.tracking.experiment, new=False, tags={})
    with signals_deferred() as act_on_signal, run:
        yield name, params, paths, act_on_signal


def save_outputs(
    paths: config.VariantPaths, result: dict, test: tuple[np.ndarray, np.ndarray], class_names: tuple[str, ...]
) -> None:
    """Write the metrics, confusion matrix and prediction grid, log them to the open run, then put
    them in place together: the old outputs stay as they were until all the new ones are complete."""
    outputs = (paths.metrics, paths.confusion_csv, paths.confusion_png, paths.predictions_png)
    test_images, test_labels = test
    with staged_outputs(*outputs) as staged:
        write_json(staged[paths.metrics], result["metrics"])
        predicted = result["test_logits"].argmax(axis=1)
        write_text(staged[paths.confusion_csv], confusion_csv(test_labels, predicted, class_names))
        save_figure(staged[paths.confusion_png], plot_confusion(result["confusion"], class_names))
        probabilities = softmax(result["test_logits"])
        save_figure(
            staged[paths.predictions_png], plot_predictions(test_images, test_labels, probabilities, class_names)
        )
        tracking.log_metrics(result["metrics"])
        tracking.log_artifacts(*staged.values())


def main() -> None:
    with variant_stage(__doc__) as (name, params, paths, act_on_signal):
        model = load_model(paths.model)
        splits = {split: load_split(config.split_path(split)) for split in config.SPLITS}
        class_names = config.load_dataset_info().class_names
        act_on_signal()
        result = evaluate_model(model, splits, class_names)
        act_on_signal()
        save_outputs(paths, result, splits["test"], class_names)
    metrics = result["metrics"]
    print(f"{name}: test_accuracy {metrics['test_accuracy']:.4f}, train-test gap {metrics['train_test_gap']:+.4f}")


if __name__ == "__main__":
    cli.run(main)
