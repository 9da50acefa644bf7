"""The pictures the stages draw, as pure functions from arrays to matplotlib figures."""

from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")  # files only: no display on CI or a server

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

History = Mapping[str, Sequence[float]]


def _show_image(axis, image: np.ndarray) -> None:
    """A grey image as the Keras tutorial draws it (dark on light), an RGB one in its colours."""
    if image.ndim == 3:
        axis.imshow(image)
    else:
        axis.imshow(image, cmap=plt.cm.binary)


def plot_samples(images: np.ndarray, labels: np.ndarray, class_names: Sequence[str]) -> Figure:
    """A 5×5 grid of the first images with their class names, as in the Keras tutorial."""
    figure, axes = plt.subplots(5, 5, figsize=(8, 8.8))
    for axis, image, label in zip(axes.flat, images, labels):
        _show_image(axis, image)
        axis.set_xlabel(class_names[label])
        axis.set_xticks([])
        axis.set_yticks([])
    return figure


def plot_confusion(matrix: np.ndarray, class_names: Sequence[str]) -> Figure:
    """The confusion matrix as a labelled heat map with counts."""
    figure, axis = plt.subplots(figsize=(8, 7))
    axis.imshow(matrix, cmap="Blues")
    for (row, column), count in np.ndenumerate(matrix):
        color = "white" if count > matrix.max() / 2 else "black"
        axis.text(column, row, str(count), ha="center", va="center", fontsize=7, color=color)
    ticks = np.arange(len(class_names))
    axis.set_xticks(ticks, class_names, rotation=45, ha="right")
    axis.set_yticks(ticks, class_names)
    axis.set_xlabel("predicted")
    axis.set_ylabel("actual")
    return figure


def plot_predictions(
    images: np.ndarray, labels: np.ndarray, probabilities: np.ndarray, class_names: Sequence[str], rows: int = 5
) -> Figure:
    """The tutorial's grid: each image with its predicted label and confidence (blue right,
    red wrong) beside the bar chart of its class probabilities."""
    columns = 3
    figure, axes = plt.subplots(rows, 2 * columns, figsize=(4 * columns, 2 * rows))
    for axis in axes.flat[2 * len(images) :]:  # a test set smaller than the grid
        axis.set_axis_off()
    for index in range(min(rows * columns, len(images))):
        image_axis, bar_axis = axes.flat[2 * index], axes.flat[2 * index + 1]
        predicted, actual = int(probabilities[index].argmax()), int(labels[index])
        _show_image(image_axis, images[index])
        image_axis.set_xlabel(
            f"{class_names[predicted]} {100 * probabilities[index, predicted]:.0f}% ({class_names[actual]})",
            color="blue" if predicted == actual else "red",
            fontsize=8,
        )
        bars = bar_axis.bar(range(len(class_names)), probabilities[index], color="#777777")
        bars[predicted].set_color("red")
        bars[actual].set_color("blue")
        bar_axis.set_ylim(0, 1)
        for axis in (image_axis, bar_axis):
            axis.set_xticks([])
            axis.set_yticks([])
    figure.tight_layout()
    return figure


def _label_epoch_axes(accuracy_axis, loss_axis, title: str, prefix: str = "") -> None:
    """Both panels of a per-epoch plot: `title` with its `{metric}`, epochs along, the metric (named with
    `prefix`) up, a light grid."""
    for axis, metric in ((accuracy_axis, "accuracy"), (loss_axis, "loss")):
        axis.set_title(title.format(metric=metric))
        axis.set_xlabel("epoch")
        axis.set_ylabel(prefix + metric)
        axis.grid(alpha=0.3)


def _draw_curves(accuracy_axis, loss_axis, histories: Mapping[str, History]) -> None:
    for index, (name, history) in enumerate(histories.items()):
        color = f"C{index}"
        epochs = range(1, len(history["loss"]) + 1)
        for axis, metric in ((accuracy_axis, "accuracy"), (loss_axis, "loss")):
            # Markers keep a one-epoch run visible as points.
            axis.plot(epochs, history[metric], color=color, linestyle="--", marker=".", label=f"{name} train")
            axis.plot(
                epochs, history[f"val_{metric}"], color=color, marker="o", markersize=3, label=f"{name} validation"
            )
    _label_epoch_axes(accuracy_axis, loss_axis, "Training and validation {metric}")
    accuracy_axis.legend(fontsize=7)


def plot_learning_curves(histories: Mapping[str, History]) -> Figure:
    """The flowers tutorial's two panels (accuracy, loss; train dashed, validation solid)."""
    figure, (accuracy_axis, loss_axis) = plt.subplots(1, 2, figsize=(11, 4))
    _draw_curves(accuracy_axis, loss_axis, histories)
    figure.tight_layout()
    return figure


def plot_comparison(histories: Mapping[str, Mapping[int, History]], rows: Sequence[Mapping], best: str) -> Figure:
    """Every variant's test accuracy, one point per seed with the mean ± one standard deviation, beside
    its validation accuracy and loss per epoch (one line per seed): the spread a reader must see before
    believing a difference. `histories[variant][seed]`; `rows`: compare's, each with its `variant`, its
    `seeds` (each with its `test_accuracy`), their mean `test_accuracy` and `test_accuracy_sd` (None with one)."""
    figure, (dot_axis, accuracy_axis, loss_axis) = plt.subplots(1, 3, figsize=(17, 4.8))
    for index, row in enumerate(rows):
        name, color = row["variant"], f"C{index}"
        values = np.array([seed["test_accuracy"] for seed in row["seeds"]])
        offsets = np.linspace(-0.12, 0.12, len(values)) if len(values) > 1 else np.zeros(1)
        dot_axis.scatter(index + offsets, values, color=color, s=18, alpha=0.8, zorder=3)
        mean, spread = row["test_accuracy"], row["test_accuracy_sd"] or 0.0
        dot_axis.errorbar(index + 0.3, mean, yerr=spread, fmt="D", color=color, capsize=4, zorder=3)
        weight = "bold" if name == best else "normal"
        dot_axis.annotate(f"{mean:.4f}", (index + 0.36, mean), fontsize=8, va="center", weight=weight)
        for seed, history in histories[name].items():
            epochs = range(1, len(history["loss"]) + 1)
            label = name if seed == next(iter(histories[name])) else None
            accuracy_axis.plot(epochs, history["val_accuracy"], color=color, marker=".", alpha=0.8, label=label)
            loss_axis.plot(epochs, history["val_loss"], color=color, marker=".", alpha=0.8, label=label)
    names = [row["variant"] for row in rows]
    dot_axis.set_xticks(range(len(names)), [f"{n} ★" if n == best else n for n in names], rotation=30)
    dot_axis.set_xlim(-0.5, len(names) - 0.2)
    dot_axis.set_title("Test accuracy: each seed (dots), mean ± sd (diamond)")
    dot_axis.grid(alpha=0.3, axis="y")
    _label_epoch_axes(accuracy_axis, loss_axis, "Validation {metric} per epoch, every seed", prefix="val_")
    accuracy_axis.legend(fontsize=8)
    figure.tight_layout()
    return figure
