"""Stage `evaluate@<variant>-<seed>`: test metrics, per-class scores, every test image's predicted class,
confusion matrix and prediction grid (`python -m pipeline.evaluate <variant> <seed>`)."""

from pipeline.core import cli

if __name__ == "__main__":  # a mistyped params.yaml fails now, not after TensorFlow's import
    cli.check_params_early(takes_variant=True)

import numpy as np

from pipeline.core.files import save_figure, staged_outputs, write_json, write_text
from pipeline.core.paths import SeedPaths, split_path
from pipeline.data.dataset_info import SPLITS, load_dataset_info
from pipeline.data.split_files import load_split
from pipeline.reporting.metrics import accuracy, confusion_matrix, cross_entropy, per_class_scores, softmax
from pipeline.reporting.plots import plot_confusion, plot_predictions
from pipeline.tracking import mirror
from pipeline.tracking.datasets import as_mlflow_dataset, log_splits
from pipeline.tracking.stage_run import variant_stage
from pipeline.training.keras_file import load_keras_model, predict_logits


def evaluate_model(model, splits: dict[str, tuple[np.ndarray, np.ndarray]], class_names) -> dict:
    """Headline metrics on every split, the train−test gap and per-class test scores."""
    logits = {split: predict_logits(model, images) for split, (images, _) in splits.items()}
    labels = {split: split_labels for split, (_, split_labels) in splits.items()}
    metrics = {f"{split}_accuracy": round(accuracy(logits[split], labels[split]), 6) for split in splits}
    metrics["test_loss"] = round(cross_entropy(logits["test"], labels["test"]), 6)
    metrics["train_test_gap"] = round(metrics["train_accuracy"] - metrics["test_accuracy"], 6)
    matrix = confusion_matrix(labels["test"], logits["test"].argmax(axis=1), len(class_names))
    scores = per_class_scores(matrix, class_names)
    return {"metrics": metrics, "per_class": scores, "confusion": matrix, "test_logits": logits["test"]}


def predictions_csv(labels: np.ndarray, predicted: np.ndarray, class_names) -> str:
    """One row per test image, in the test set's order: its class and the predicted one (by name), the
    paired tests' input and the layout of DVC's `confusion` plot template."""
    rows = ["actual,predicted"] + [f"{class_names[a]},{class_names[p]}" for a, p in zip(labels, predicted)]
    return "\n".join(rows) + "\n"


def log_metrics(metrics: dict, per_class: dict, model_id: str | None, datasets: dict) -> None:
    """Each split's metrics linked to the logged model and to that split's dataset (per-class scores
    are the test set's); the train−test gap to the model alone."""
    for split, dataset in datasets.items():
        measured = {key: value for key, value in metrics.items() if key.startswith(f"{split}_")}
        if split == "test":
            measured["per_class"] = per_class
        mirror.log_metrics(measured, model_id=model_id, dataset=dataset)
    mirror.log_metrics({"train_test_gap": metrics["train_test_gap"]}, model_id=model_id)


def save_outputs(
    paths: SeedPaths, result: dict, test: tuple[np.ndarray, np.ndarray], class_names: tuple[str, ...], run, datasets
) -> None:
    """Write the metrics, per-class scores, predictions, confusion matrix and prediction grid, log them to
    the open run (linked to its model and the splits' `datasets`), then put them in place together: the
    old outputs stay as they were until all the new ones are complete."""
    outputs = (paths.metrics, paths.scores, paths.predictions, paths.confusion_png, paths.predictions_png)
    test_images, test_labels = test
    with staged_outputs(*outputs) as staged:
        write_json(staged[paths.metrics], result["metrics"])
        write_json(staged[paths.scores], result["per_class"])
        predicted = result["test_logits"].argmax(axis=1)
        write_text(staged[paths.predictions], predictions_csv(test_labels, predicted, class_names))
        save_figure(staged[paths.confusion_png], plot_confusion(result["confusion"], class_names))
        probabilities = softmax(result["test_logits"])
        save_figure(
            staged[paths.predictions_png], plot_predictions(test_images, test_labels, probabilities, class_names)
        )
        log_splits({"test": datasets["test"]})
        log_metrics(result["metrics"], result["per_class"], run.model_id, datasets)
        mirror.log_artifacts(*staged.values())


def main() -> None:
    with variant_stage(__doc__, per_seed=True) as (stage, run, act_on_signal):
        paths = stage.seed_paths
        model = load_keras_model(paths.model)
        splits = {split: load_split(split_path(split)) for split in SPLITS}
        dataset = load_dataset_info()
        datasets = {split: as_mlflow_dataset(split, *data, dataset.name) for split, data in splits.items()}
        act_on_signal()
        result = evaluate_model(model, splits, dataset.class_names)
        act_on_signal()
        save_outputs(paths, result, splits["test"], dataset.class_names, run, datasets)
    metrics = result["metrics"]
    gap = metrics["train_test_gap"]
    print(f"{stage.name} seed {stage.seed}: test_accuracy {metrics['test_accuracy']:.4f}, train-test gap {gap:+.4f}")


if __name__ == "__main__":
    cli.run(main)
