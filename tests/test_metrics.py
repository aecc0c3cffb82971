"""Metrics against counts and formulas worked out by hand."""

import numpy as np
import pytest

from mixer_vit import metrics


def one_hot_probs(predictions, num_classes, confidence=0.9):
    probs = np.full((len(predictions), num_classes), (1 - confidence) / (num_classes - 1))
    probs[np.arange(len(predictions)), predictions] = confidence
    return probs


def test_precision_recall_f1_and_confusion_by_hand():
    labels = np.array([0, 0, 0, 1, 1, 2])
    predictions = np.array([0, 0, 1, 1, 2, 2])
    report = metrics.classification_report(one_hot_probs(predictions, 3), labels)
    # class 0: tp 2, fp 0, fn 1; class 1: tp 1, fp 1, fn 1; class 2: tp 1, fp 1, fn 0
    assert report["precision"] == pytest.approx([1.0, 0.5, 0.5])
    assert report["recall"] == pytest.approx([2 / 3, 0.5, 1.0])
    assert report["f1"] == pytest.approx([0.8, 0.5, 2 / 3])
    assert report["macro_f1"] == pytest.approx((0.8 + 0.5 + 2 / 3) / 3)
    assert report["confusion"] == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    assert report["top1"] == pytest.approx(4 / 6)


def test_top5_accuracy():
    probs = np.tile(np.arange(10, dtype=float), (3, 1))  # ranking 9, 8, 7, 6, 5, ...
    assert metrics.top_k_accuracy(probs, np.array([9, 5, 4]), 5) == pytest.approx(2 / 3)


def test_expected_calibration_error_by_hand():
    # Two bins used (of 10): confidence 0.95 (4 examples, 3 right) and 0.55 (2, 2 right).
    probs = np.array([[0.95, 0.05]] * 4 + [[0.55, 0.45]] * 2)
    labels = np.array([0, 0, 0, 1, 0, 0])
    expected = 4 / 6 * abs(0.75 - 0.95) + 2 / 6 * abs(1.0 - 0.55)
    assert metrics.expected_calibration_error(probs, labels, num_bins=10) == pytest.approx(expected)
    perfect = np.array([[1.0, 0.0]] * 3)
    assert metrics.expected_calibration_error(perfect, np.zeros(3, int)) == pytest.approx(0.0)


def test_thresholds_reject_low_confidence_and_trade_coverage_for_accuracy():
    # Class 0 predictions: confidences 0.9 (right), 0.8 (right), 0.6 (wrong), 0.55 (right).
    probs = np.array([[0.9, 0.1], [0.8, 0.2], [0.6, 0.4], [0.55, 0.45], [0.3, 0.7], [0.2, 0.8]])
    labels = np.array([0, 0, 1, 0, 1, 1])
    thresholds = metrics.per_class_thresholds(probs, labels, target_precision=1.0)
    assert thresholds[0] == pytest.approx(0.8)  # keeping 0.6 would admit an error
    assert thresholds[1] == pytest.approx(0.7)
    assert metrics.predict_with_rejection(probs, thresholds).tolist() == [0, 0, -1, -1, 1, 1]
    curve = metrics.coverage_accuracy_curve(probs, labels, thresholds)
    assert curve == {"coverage": pytest.approx(4 / 6), "accuracy_on_accepted": 1.0}
    loose = metrics.per_class_thresholds(probs, labels, target_precision=0.5)
    assert metrics.coverage_accuracy_curve(probs, labels, loose)["coverage"] == 1.0
