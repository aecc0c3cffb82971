"""The majority-class baseline: the scores of always predicting the most frequent
training class, the floor a classifier on imbalanced data has to beat."""

from __future__ import annotations

import numpy as np

from mixer_vit.metrics.classification import classification_report


def majority_baseline(train_class_counts: np.ndarray, test_labels: np.ndarray) -> dict:
    """Accuracy and macro precision/recall/F1 on ``test_labels`` (int ``[N]``) of
    predicting, for every example, the class with the most training examples
    (``train_class_counts`` int ``[K]``; a tie goes to the lowest class index).

    Returns ``{"class", "accuracy", "macro_precision", "macro_recall", "macro_f1",
    "train_class_counts"}``, scored as ``classification_report`` scores a model: with the
    majority class holding a fraction p of the test set (and every class present), accuracy
    p, macro recall 1/K, macro precision p/K, macro F1 2p/((1 + p) K).
    """
    counts = np.asarray(train_class_counts, dtype=np.int64)
    majority = int(np.argmax(counts))
    labels = np.asarray(test_labels, dtype=np.int64)
    always = np.zeros((labels.size, counts.size), dtype=np.float32)
    always[:, majority] = 1.0
    scores = classification_report(always, labels)
    return {
        "class": majority,
        "accuracy": scores["top1"],
        "macro_precision": scores["macro_precision"],
        "macro_recall": scores["macro_recall"],
        "macro_f1": scores["macro_f1"],
        "train_class_counts": counts.tolist(),
    }
