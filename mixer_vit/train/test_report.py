"""The end-of-training report: accuracy, per-class precision/recall/F1, confusion matrix,
calibration (ECE and the reliability diagram's bins), and open-set rejection with
thresholds chosen on the validation split."""

from __future__ import annotations

import json
import os

import numpy as np

from mixer_vit import metrics
from mixer_vit.metrics.majority_baseline import majority_baseline
from mixer_vit.train.open_set_report import UnknownPredictions, open_set_report

TARGET_PRECISION = 0.99  # per-class precision the rejection thresholds aim for on validation


def _stack(predictions: list) -> tuple[np.ndarray, np.ndarray]:
    probs = np.concatenate([p for p, _ in predictions])
    labels = np.concatenate([y for _, y in predictions])
    return probs, labels


def _json_bins(bins: dict) -> dict:
    """``reliability_bins``' arrays as JSON lists; an empty bin's NaNs become null."""
    return {
        name: [None if np.isnan(v) else float(v) for v in values]
        if name != "count" else [int(v) for v in values]
        for name, values in bins.items()
    }


def build_report(
    validation: list,
    test: list,
    train_class_counts=None,
    unknown: UnknownPredictions | None = None,
) -> dict:
    """validation/test: lists of (probs [n, K], labels [n]) batches (see ``evaluate``);
    train_class_counts: training examples per class [K], or None (adds
    ``majority_baseline``); unknown: the held-out classes' images of an open-set run, which
    add ``open_set`` (train/open_set_report.py).

    Keys: top1, top5, per-class precision/recall/f1/support, macro_*, confusion [K][K],
    ece, reliability (the test split's 15 confidence bins: bin_edges [16], confidence
    [15], accuracy [15] (null for an empty bin), count [15]), temperature_scaling (T
    fitted on validation, then the test split's ece, nll, nll_before and reliability bins
    after dividing its logits by T), rejection, with train_class_counts
    majority_baseline (metrics/majority_baseline.py), with unknown open_set."""
    val_probs, val_labels = _stack(validation)
    test_probs, test_labels = _stack(test)
    report = metrics.classification_report(test_probs, test_labels)
    report["ece"] = metrics.expected_calibration_error(test_probs, test_labels)
    report["reliability"] = _json_bins(metrics.reliability_bins(test_probs, test_labels))
    temperature = metrics.fit_temperature(metrics.probs_as_logits(val_probs), val_labels)
    scaled = metrics.apply_temperature(test_probs, temperature)
    report["temperature_scaling"] = {
        "temperature": temperature,
        "ece": metrics.expected_calibration_error(scaled, test_labels),
        "nll": metrics.mean_nll(scaled, test_labels),
        "nll_before": metrics.mean_nll(test_probs, test_labels),
        "reliability": _json_bins(metrics.reliability_bins(scaled, test_labels)),
    }
    thresholds = metrics.per_class_thresholds(val_probs, val_labels, TARGET_PRECISION)
    report["rejection"] = {
        "target_precision_on_validation": TARGET_PRECISION,
        "thresholds": thresholds.tolist(),
        "test": metrics.coverage_accuracy_curve(test_probs, test_labels, thresholds),
    }
    if train_class_counts is not None:
        report["majority_baseline"] = majority_baseline(train_class_counts, test_labels)
    if unknown is not None:
        report["open_set"] = open_set_report(validation, test, unknown)
    return report


def write_report(report: dict, workdir: str) -> str:
    path = os.path.join(workdir, "test_report.json")
    with open(path, "w") as f:
        json.dump(report, f, indent=1)
    return path


def summary_line(report: dict) -> str:
    rejection = report["rejection"]["test"]
    return (
        f"top-5 {report['top5']:.4f}, macro F1 {report['macro_f1']:.4f}, ECE "
        f"{report['ece']:.4f}; with rejection: coverage {rejection['coverage']:.3f}, "
        f"accuracy {rejection['accuracy_on_accepted']:.4f}"
    )
