"""Open-set rejection: per-class confidence thresholds chosen on the validation split.

An example is rejected ("none of the known classes") when the top probability is below the
threshold of its predicted class. Thresholds are fitted on validation data so that each
class keeps a target precision; the test split then reports coverage vs accuracy.
"""

from __future__ import annotations

import numpy as np


def per_class_thresholds(
    probs: np.ndarray, labels: np.ndarray, target_precision: float
) -> np.ndarray:
    """For each class c, the smallest confidence t such that validation examples predicted
    as c with confidence >= t are correct at least ``target_precision`` of the time (1.0 if
    no such t exists; 0.0 for a class never predicted).

    probs: [N, K]; labels: int [N]. Returns float [K].
    """
    num_classes = probs.shape[-1]
    predictions, confidence = probs.argmax(-1), probs.max(-1)
    thresholds = np.zeros(num_classes)
    for c in range(num_classes):
        mine = predictions == c
        if not mine.any():
            continue
        order = np.argsort(-confidence[mine])
        conf_sorted = confidence[mine][order]
        correct_sorted = (labels[mine] == c)[order]
        precision_at = np.cumsum(correct_sorted) / np.arange(1, len(order) + 1)
        ok = np.where(precision_at >= target_precision)[0]
        thresholds[c] = conf_sorted[ok.max()] if ok.size else 1.0 + 1e-9
    return thresholds


def predict_with_rejection(probs: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Predicted classes [N], with -1 where the top probability is below its class's
    threshold."""
    predictions = probs.argmax(-1)
    accept = probs.max(-1) >= thresholds[predictions]
    return np.where(accept, predictions, -1)


def coverage_accuracy_curve(
    probs: np.ndarray, labels: np.ndarray, thresholds: np.ndarray
) -> dict[str, float]:
    """Coverage (fraction accepted) and accuracy on the accepted examples."""
    predictions = predict_with_rejection(probs, thresholds)
    accepted = predictions >= 0
    coverage = float(accepted.mean())
    accuracy = float((predictions[accepted] == labels[accepted]).mean()) if accepted.any() else 0.0
    return {"coverage": coverage, "accuracy_on_accepted": accuracy}
