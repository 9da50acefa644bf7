"""What a classifier's logits score against the true labels, in numpy alone (no TensorFlow): used
by evaluate, export, compare's inputs and predict alike."""

import numpy as np


def softmax(logits: np.ndarray) -> np.ndarray:
    """Class probabilities from logits, one row per image."""
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


def top1_agreement(logits: np.ndarray, reference_logits: np.ndarray) -> float:
    """The share of images whose most probable class is the same in both."""
    return float((logits.argmax(axis=1) == reference_logits.argmax(axis=1)).mean())


def max_probability_difference(logits: np.ndarray, reference_logits: np.ndarray) -> float:
    """The largest difference of any class probability of any image between the two."""
    return float(np.abs(softmax(logits) - softmax(reference_logits)).max())
