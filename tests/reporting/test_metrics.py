import keras
import numpy as np
import pytest

from pipeline.reporting.metrics import (
    accuracy,
    confusion_matrix,
    cross_entropy,
    max_probability_difference,
    per_class_scores,
    softmax,
    top1_agreement,
)


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


def test_accuracy_and_agreement_count_top1_classes():
    logits = np.array([[2.0, 1.0, 0.0], [0.0, 3.0, 1.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])
    assert accuracy(logits, np.array([0, 1, 1, 0])) == 0.75
    other = logits.copy()
    other[3] = [0.0, 2.0, 0.0]  # one image's top class differs
    assert top1_agreement(other, logits) == 0.75
    assert top1_agreement(logits * 3, logits) == 1.0


def test_the_probability_difference_is_the_largest_over_classes_and_images():
    logits = np.zeros((2, 2))
    moved = np.array([[0.0, 0.0], [np.log(3.0), 0.0]])  # the second image: 0.75 / 0.25 instead of 0.5 / 0.5
    assert max_probability_difference(moved, logits) == pytest.approx(0.25)
    assert max_probability_difference(logits, logits) == 0.0


def test_softmax_rows_are_probabilities_even_for_huge_logits():
    probabilities = softmax(np.array([[1000.0, 0.0], [-5.0, -5.0]]))
    np.testing.assert_allclose(probabilities, [[1.0, 0.0], [0.5, 0.5]])
