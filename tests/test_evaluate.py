import keras
import numpy as np
import pytest

from pipeline.cli import PipelineError
from pipeline.config import CLASS_NAMES, VariantParams
from pipeline.evaluate import (
    confusion_csv,
    confusion_matrix,
    cross_entropy,
    evaluate_model,
    load_model,
    per_class_scores,
)
from pipeline.litert import softmax
from pipeline.models import build_model


def test_confusion_matrix_rows_are_true_classes():
    labels = np.array([0, 0, 1, 2, 2, 2])
    predicted = np.array([0, 1, 1, 2, 2, 0])
    matrix = confusion_matrix(labels, predicted, 3)
    np.testing.assert_array_equal(matrix, [[1, 1, 0], [0, 1, 0], [1, 0, 2]])


def test_per_class_scores_match_hand_computed_values():
    matrix = np.array([[1, 1, 0], [0, 1, 0], [1, 0, 2]])
    scores = per_class_scores(matrix, ["a", "b", "c"])
    assert scores["a"] == {"precision": 0.5, "recall": 0.5, "f1": 0.5}
    assert scores["b"] == {"precision": 0.5, "recall": 1.0, "f1": pytest.approx(0.666667)}
    assert scores["c"] == {"precision": 1.0, "recall": pytest.approx(0.666667), "f1": 0.8}


def test_a_never_predicted_class_scores_zero_instead_of_nan():
    scores = per_class_scores(np.array([[2, 0], [1, 0]]), ["a", "b"])
    assert scores["b"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0}


def test_cross_entropy_matches_keras():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(50, 10)).astype(np.float32) * 5
    labels = rng.integers(0, 10, size=50)
    expected = keras.losses.SparseCategoricalCrossentropy(from_logits=True)(labels, logits)
    assert cross_entropy(logits, labels) == pytest.approx(float(expected), rel=1e-5)
    np.testing.assert_allclose(softmax(logits).sum(axis=1), 1.0, rtol=1e-6)


def test_evaluate_model_reports_accuracy_gap_and_per_class_scores():
    model = build_model(VariantParams(model="mlp", hidden_units=(8,)))
    rng = np.random.default_rng(1)
    splits = {
        split: (rng.integers(0, 256, size=(40, 28, 28), dtype=np.uint8), np.arange(40) % 10)
        for split in ("train", "val", "test")
    }
    result = evaluate_model(model, splits, CLASS_NAMES)
    metrics = result["metrics"]
    predicted = model.predict(splits["test"][0].astype(np.float32), verbose=0).argmax(axis=1)
    assert metrics["test_accuracy"] == pytest.approx((predicted == splits["test"][1]).mean())
    assert metrics["train_test_gap"] == pytest.approx(metrics["train_accuracy"] - metrics["test_accuracy"])
    assert set(metrics["per_class"]) == set(CLASS_NAMES)
    assert result["confusion"].sum() == 40


def test_confusion_csv_names_classes():
    text = confusion_csv(np.array([0, 9]), np.array([6, 9]), CLASS_NAMES)
    assert text.splitlines() == ["actual,predicted", "T-shirt/top,Shirt", "Ankle boot,Ankle boot"]


def test_load_model_refuses_a_file_that_is_not_a_model(tmp_path):
    bogus = tmp_path / "model.keras"
    bogus.write_text("not a model")
    with pytest.raises(PipelineError, match="model.keras is not a loadable Keras model"):
        load_model(bogus)
