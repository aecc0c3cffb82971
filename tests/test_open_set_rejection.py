"""Open-set rejection rules (metrics/open_set_rejection.py) against hand computations,
scikit-learn's precision/recall/F1 and brute-force threshold searches."""

import itertools

import numpy as np
import pytest
from sklearn.metrics import precision_recall_fscore_support

from mixer_vit.metrics.open_set_rejection import (
    compare_rejection,
    f1_thresholds,
    known_class_scores,
    matched_global_threshold,
)


def test_known_class_scores_by_hand():
    labels = np.array([0, 0, 0, 1, 1, -1, -1, 2, -1])
    predictions = np.array([0, 0, -1, 0, 1, 1, -1, 2, 0])
    # class 0: TP 2, FP 2 (a class-1 image and an unknown one), FN 1 (rejected)
    # class 1: TP 1, FP 1 (an unknown image), FN 1 (predicted 0); class 2: TP 1 only.
    scores = known_class_scores(predictions, labels, num_known=3)
    assert scores["precision"] == pytest.approx((2 / 4 + 1 / 2 + 1) / 3)
    assert scores["recall"] == pytest.approx((2 / 3 + 1 / 2 + 1) / 3)
    assert scores["f1"] == pytest.approx((4 / 7 + 2 / 4 + 1) / 3)
    assert scores["unknown_rejection"] == pytest.approx(1 / 3)  # 1 of the 3 unknown images
    assert scores["known_rejection"] == pytest.approx(1 / 6)
    assert scores["coverage"] == pytest.approx(7 / 9)


def test_known_class_scores_equal_sklearn_macro_over_known_classes():
    rng = np.random.default_rng(0)
    labels = rng.integers(-1, 5, size=400)
    predictions = np.where(rng.random(400) < 0.6, labels, rng.integers(-1, 5, size=400))
    scores = known_class_scores(predictions, labels, num_known=5)
    p, r, f, _ = precision_recall_fscore_support(
        labels, predictions, labels=list(range(5)), average="macro", zero_division=0
    )
    assert (scores["precision"], scores["recall"], scores["f1"]) == pytest.approx((p, r, f))
    assert scores["unknown_rejection"] == pytest.approx(np.mean(predictions[labels == -1] == -1))


def test_no_unknown_images_gives_null_rejection_rate():
    scores = known_class_scores(np.array([0, 1]), np.array([0, 1]), num_known=2)
    assert scores["unknown_rejection"] is None and scores["known_rejection"] == 0.0


def _scores_at(probs, labels, thresholds):
    predictions = np.where(
        probs.max(-1) >= thresholds[probs.argmax(-1)], probs.argmax(-1), -1
    )
    return known_class_scores(predictions, labels, probs.shape[-1])


def _class_f1(probs, labels, c, t):
    """F1 of class c when images predicted c are accepted at confidence >= t."""
    accepted_as_c = (probs.argmax(-1) == c) & (probs.max(-1) >= t)
    tp = np.sum(accepted_as_c & (labels == c))
    fp = np.sum(accepted_as_c & (labels != c))
    fn = np.sum(labels == c) - tp
    return 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0


def _random_probs(n, k, seed):
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n, k)) * 2
    labels = rng.integers(-1, k, size=n)
    known = labels >= 0
    logits[known, labels[known]] += 2.5  # known images lean to their class
    probs = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    return probs, labels


def test_f1_thresholds_equal_brute_force_per_class():
    probs, labels = _random_probs(120, 3, seed=1)
    thresholds = f1_thresholds(probs, labels)
    for c in range(3):
        candidates = np.append(0.0, probs.max(-1)[probs.argmax(-1) == c])
        f1s = np.array([_class_f1(probs, labels, c, t) for t in candidates])
        best = f1s.max()
        assert _class_f1(probs, labels, c, thresholds[c]) == pytest.approx(best)
        # ties go to the most accepted images: the lowest threshold reaching the best F1
        lowest = candidates[np.isclose(f1s, best)].min()
        assert np.sum(probs.max(-1)[probs.argmax(-1) == c] >= thresholds[c]) == np.sum(
            probs.max(-1)[probs.argmax(-1) == c] >= lowest
        )


def test_f1_thresholds_maximise_macro_f1_over_every_pair():
    probs, labels = _random_probs(60, 2, seed=2)
    chosen = _scores_at(probs, labels, f1_thresholds(probs, labels))["f1"]
    candidates = [np.append(0.0, probs.max(-1)[probs.argmax(-1) == c]) for c in range(2)]
    best = max(
        _scores_at(probs, labels, np.array(pair))["f1"]
        for pair in itertools.product(*candidates)
    )
    assert chosen == pytest.approx(best)


def test_f1_thresholds_never_split_a_tie():
    # Class 0 predictions at confidence 0.9 (correct), then 0.6 four times (one correct,
    # three unknown images); 2 class-0 images. Keeping 0.9 and the correct 0.6 (F1 1.0)
    # would split the tie; a threshold keeps 0.9 alone (F1 2/3) or all five (2*2/(5+2)).
    probs = np.array([[0.9, 0.1]] + [[0.6, 0.4]] * 4 + [[0.2, 0.8]])
    labels = np.array([0, 0, -1, -1, -1, 1])
    thresholds = f1_thresholds(probs, labels)
    assert thresholds.tolist() == [0.9, 0.8]


def test_f1_thresholds_leave_an_unpredicted_class_at_zero():
    probs = np.array([[0.7, 0.2, 0.1], [0.6, 0.3, 0.1]])
    assert f1_thresholds(probs, np.array([0, 2]))[1:].tolist() == [0.0, 0.0]


def test_matched_global_threshold_by_hand():
    confidence = np.array([0.6, 0.9, 0.7, 0.8])
    assert matched_global_threshold(confidence, 0.5) == 0.8  # the 2 most confident
    assert matched_global_threshold(confidence, 1.0) == 0.6
    assert np.sum(confidence >= matched_global_threshold(confidence, 0.0)) == 0
    assert matched_global_threshold(confidence, 0.6) == 0.8  # round(2.4) = 2 images


def test_compare_rejection_matches_coverage_and_scores_test_with_its_thresholds():
    val_probs, val_labels = _random_probs(200, 4, seed=3)
    test_probs, test_labels = _random_probs(150, 4, seed=4)
    result = compare_rejection(val_probs, val_labels, test_probs, test_labels)
    per_class = np.array(result["per_class"]["thresholds"])
    assert per_class == pytest.approx(f1_thresholds(val_probs, val_labels))
    accepted = val_probs.max(-1) >= per_class[val_probs.argmax(-1)]
    assert result["per_class"]["validation_coverage"] == pytest.approx(accepted.mean())
    # the global threshold accepts the same number of validation images (no ties here)
    t = result["global"]["threshold"]
    assert np.sum(val_probs.max(-1) >= t) == accepted.sum()
    assert result["global"]["validation_coverage"] == pytest.approx(accepted.mean())
    expected_global = _scores_at(test_probs, test_labels, np.full(4, t))
    expected_per_class = _scores_at(test_probs, test_labels, per_class)
    expected_none = _scores_at(test_probs, test_labels, np.zeros(4))
    for rule, expected in (
        ("global", expected_global), ("per_class", expected_per_class), ("none", expected_none)
    ):
        for key, value in expected.items():
            assert result[rule][key] == pytest.approx(value), (rule, key)
    assert result["none"]["coverage"] == 1.0 and result["none"]["unknown_rejection"] == 0.0
