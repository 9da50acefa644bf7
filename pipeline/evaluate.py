"""Stage `evaluate@<variant>`: test metrics, per-class scores, confusion matrix and prediction grid."""

import numpy as np

from pipeline import cli, config, tracking
from pipeline.artifacts import load_split, save_figure, write_json, write_text
from pipeline.plots import plot_confusion, plot_predictions

with cli.quiet_native_logs():  # TensorFlow's C++ start-up messages
    import keras

PREDICT_BATCH = 1024


def load_model(path) -> keras.Model:
    """Load a trained `.keras` model without running any code it may carry."""
    try:
        return keras.models.load_model(path, safe_mode=True)
    except (OSError, ValueError) as error:
        raise cli.PipelineError(f"{path} is not a loadable Keras model: {error}".splitlines()[0]) from error


def predict_logits(model: keras.Model, images: np.ndarray) -> np.ndarray:
    return model.predict(images.astype(np.float32), batch_size=PREDICT_BATCH, verbose=0)


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


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


def open_trained_variant(description: str | None) -> tuple[str, config.Params, config.VariantPaths, keras.Model]:
    """For the stages after train: the variant named on the command line, the validated params,
    the variant's paths and its trained model."""
    name = cli.parse_variant(description)
    params = config.load_params()
    params.variant(name)
    paths = config.VariantPaths(name)
    return name, params, paths, load_model(paths.model)


def main() -> None:
    name, params, paths, model = open_trained_variant(__doc__)
    splits = {split: load_split(config.split_path(split)) for split in config.SPLITS}
    result = evaluate_model(model, splits, config.CLASS_NAMES)
    test_images, test_labels = splits["test"]
    with tracking.variant_run(name, paths.run_file, params.tracking.experiment, new=False, tags={}):
        write_json(paths.metrics, result["metrics"])
        write_text(
            paths.confusion_csv, confusion_csv(test_labels, result["test_logits"].argmax(axis=1), config.CLASS_NAMES)
        )
        save_figure(paths.confusion_png, plot_confusion(result["confusion"], config.CLASS_NAMES))
        probabilities = softmax(result["test_logits"])
        save_figure(
            paths.predictions_png, plot_predictions(test_images, test_labels, probabilities, config.CLASS_NAMES)
        )
        tracking.log_metrics(result["metrics"])
        tracking.log_artifacts(paths.metrics, paths.confusion_csv, paths.confusion_png, paths.predictions_png)
    metrics = result["metrics"]
    print(f"{name}: test_accuracy {metrics['test_accuracy']:.4f}, train-test gap {metrics['train_test_gap']:+.4f}")


if __name__ == "__main__":
    cli.run(main)
