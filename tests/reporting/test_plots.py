import matplotlib.pyplot as plt
import numpy as np
import pytest

from pipeline.data.dataset_info import CLASS_NAMES
from pipeline.reporting.plots import (
    plot_comparison,
    plot_confusion,
    plot_learning_curves,
    plot_predictions,
    plot_samples,
)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def _history(start: float) -> dict[str, list[float]]:
    return {
        "accuracy": [start, start + 0.1],
        "val_accuracy": [start - 0.05, start + 0.05],
        "loss": [1.0, 0.6],
        "val_loss": [1.1, 0.8],
    }


def test_rgb_images_are_drawn_in_colour():
    images = np.zeros((25, 8, 8, 3), np.uint8)
    images[..., 0] = 255  # red
    labels = np.arange(25) % 2
    figure = plot_samples(images, labels, ("red", "also red"))
    assert figure.axes[1].get_xlabel() == "also red"
    assert figure.axes[0].images[0].get_array().shape == (8, 8, 3)
    probabilities = np.tile([0.9, 0.1], (4, 1))
    grid = plot_predictions(images[:4], labels[:4], probabilities, ("red", "also red"))  # fewer than the grid holds
    assert sum(len(axis.images) for axis in grid.axes) == 4


def test_sample_grid_has_25_images_labelled_with_class_names():
    images = np.zeros((30, 28, 28), np.uint8)
    labels = np.arange(30) % 10
    figure = plot_samples(images, labels, CLASS_NAMES)
    assert len(figure.axes) == 25
    assert [axis.get_xlabel() for axis in figure.axes[:3]] == ["T-shirt/top", "Trouser", "Pullover"]
    assert all(len(axis.images) == 1 for axis in figure.axes)


def test_confusion_heat_map_prints_every_count():
    matrix = np.arange(100).reshape(10, 10)
    figure = plot_confusion(matrix, CLASS_NAMES)
    (axis,) = figure.axes
    assert sorted(int(text.get_text()) for text in axis.texts) == list(range(100))
    assert [label.get_text() for label in axis.get_yticklabels()] == list(CLASS_NAMES)


def test_prediction_grid_colours_right_blue_and_wrong_red():
    images = np.zeros((15, 28, 28), dtype=np.uint8)
    labels = np.arange(15) % 10
    probabilities = np.eye(10)[(labels + np.arange(15) // 10) % 10]  # the last five are wrong
    figure = plot_predictions(images, labels, probabilities, CLASS_NAMES)
    colors = [axis.xaxis.label.get_color() for axis in figure.axes[::2]]
    assert len(figure.axes) == 30
    assert colors.count("blue") == 10 and colors.count("red") == 5
    assert figure.axes[0].get_xlabel() == "T-shirt/top 100% (T-shirt/top)"


def test_learning_curves_show_train_and_validation_accuracy_and_loss():
    figure = plot_learning_curves({"cnn": _history(0.8)})
    accuracy_axis, loss_axis = figure.axes
    assert [line.get_label() for line in accuracy_axis.lines] == ["cnn train", "cnn validation"]
    assert [axis.get_ylabel() for axis in figure.axes] == ["accuracy", "loss"]
    assert loss_axis.get_title() == "Training and validation loss"
    np.testing.assert_allclose(loss_axis.lines[1].get_ydata(), [1.1, 0.8])


def test_comparison_shows_every_seed_and_the_mean_and_marks_the_best():
    histories = {"mlp": {1: _history(0.8), 2: _history(0.81)}, "cnn": {1: _history(0.85), 2: _history(0.86)}}
    accuracy = {"mlp": {1: 0.86, 2: 0.87}, "cnn": {1: 0.91, 2: 0.92}}
    rows = [_row(name, by_seed) for name, by_seed in accuracy.items()]
    figure = plot_comparison(histories, rows, best="cnn")
    dot_axis, accuracy_axis, loss_axis = figure.axes
    assert len(accuracy_axis.lines) == len(loss_axis.lines) == 4  # a validation curve per variant and seed
    seeds = [point for collection in dot_axis.collections[::2] for point in collection.get_offsets()[:, 1]]
    assert sorted(seeds) == sorted(v for by_seed in accuracy.values() for v in by_seed.values())
    means = sorted(text.get_text() for text in dot_axis.texts)
    assert means == sorted(f"{row['test_accuracy']:.4f}" for row in rows)
    assert [label.get_text() for label in dot_axis.get_xticklabels()] == ["mlp", "cnn ★"]
    assert [axis.get_ylabel() for axis in (accuracy_axis, loss_axis)] == ["val_accuracy", "val_loss"]
    assert accuracy_axis.get_title() == "Validation accuracy per epoch, every seed"


def _row(name: str, by_seed: dict[int, float]) -> dict:
    """A variant's row as compare's results hold it: each seed's test accuracy, their mean and sd."""
    values = list(by_seed.values())
    sd = float(np.std(values, ddof=1)) if len(values) > 1 else None
    seeds = [{"seed": seed, "test_accuracy": value} for seed, value in by_seed.items()]
    return {"variant": name, "seeds": seeds, "test_accuracy": float(np.mean(values)), "test_accuracy_sd": sd}


def test_the_spread_drawn_is_the_rows_sd_and_one_seed_has_none():
    histories = {"mlp": {1: _history(0.8), 2: _history(0.81)}, "cnn": {1: _history(0.85)}}
    rows = [_row("mlp", {1: 0.86, 2: 0.87}), _row("cnn", {1: 0.91})]
    dot_axis = plot_comparison(histories, rows, best="cnn").axes[0]
    bars = [container.lines[2][0].get_segments()[0][:, 1] for container in dot_axis.containers]
    np.testing.assert_allclose(bars[0], [0.865 - rows[0]["test_accuracy_sd"], 0.865 + rows[0]["test_accuracy_sd"]])
    np.testing.assert_allclose(bars[1], [0.91, 0.91])


def test_a_variant_without_histories_is_named():
    rows = [_row("mlp", {1: 0.86})]
    with pytest.raises(KeyError, match="mlp"):
        plot_comparison({}, rows, best="mlp")
