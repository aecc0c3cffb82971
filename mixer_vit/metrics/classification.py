"""Accuracy, precision, recall, F1 and the confusion matrix (scikit-learn does the counting)."""

from __future__ import annotations

import numpy as np
from sklearn import metrics as sk


def top_k_accuracy(probs: np.ndarray, labels: np.ndarray, k: int) -> float:
    """Fraction of examples whose label is among the k highest scores.

    probs: [N, K] scores; labels: int [N].
    """
    top = np.argsort(-probs, axis=-1)[:, :k]
    return float(np.mean(np.any(top == labels[:, None], axis=-1)))


def classification_report(probs: np.ndarray, labels: np.ndarray) -> dict:
    """Top-1/top-5 accuracy, per-class and macro precision/recall/F1, confusion matrix.

    probs: [N, K] scores (softmax probabilities or logits); labels: int [N].
    Returns a JSON-friendly dict; ``confusion[i][j]`` counts true class i predicted as j.
    A class never predicted has precision 0 (and never present, recall 0).
    """
    num_classes = probs.shape[-1]
    predictions = probs.argmax(-1)
    classes = np.arange(num_classes)
    precision, recall, f1, support = sk.precision_recall_fscore_support(
        labels, predictions, labels=classes, zero_division=0
    )
    return {
        "top1": float(np.mean(predictions == labels)),
        "top5": top_k_accuracy(probs, labels, min(5, num_classes)),
        "precision": precision.tolist(),
        "recall": recall.tolist(),
        "f1": f1.tolist(),
        "support": support.tolist(),
        "macro_precision": float(precision.mean()),
        "macro_recall": float(recall.mean()),
        "macro_f1": float(f1.mean()),
        "confusion": sk.confusion_matrix(labels, predictions, labels=classes).tolist(),
    }
