"""Expected calibration error and the reliability diagram's bins (Guo et al., 2017)."""

from __future__ import annotations

import numpy as np


def _confidence_bins(probs: np.ndarray, labels: np.ndarray, num_bins: int):
    """-> (confidence [N] top probability, correct float [N] 0/1, bin index int [N]).

    Bin b holds confidences in (b/num_bins, (b+1)/num_bins]; the first bin also takes 0."""
    confidence = probs.max(-1)
    correct = (probs.argmax(-1) == labels).astype(np.float64)
    bins = np.clip(np.ceil(confidence * num_bins).astype(int) - 1, 0, num_bins - 1)
    return confidence, correct, bins


def expected_calibration_error(probs: np.ndarray, labels: np.ndarray, num_bins: int = 15) -> float:
    """sum_b |B_b|/N * |accuracy(B_b) - confidence(B_b)| over equal-width confidence bins.

    probs: [N, K] probabilities; labels: int [N]. Confidence is the top probability; bin b
    holds confidences in (b/num_bins, (b+1)/num_bins] (the first bin also takes 0).
    """
    confidence, correct, bins = _confidence_bins(probs, labels, num_bins)
    error = 0.0
    for b in range(num_bins):
        in_bin = bins == b
        if in_bin.any():
            error += in_bin.mean() * abs(correct[in_bin].mean() - confidence[in_bin].mean())
    return float(error)


def reliability_bins(probs: np.ndarray, labels: np.ndarray, num_bins: int = 15) -> dict:
    """The per-bin numbers of a reliability diagram, binned as ``expected_calibration_error``.

    probs: [N, K] probabilities; labels: int [N]. Returns numpy arrays
    ``bin_edges`` [num_bins + 1] (0, 1/num_bins, ..., 1), ``confidence`` [num_bins] (mean
    top probability in the bin), ``accuracy`` [num_bins] (fraction of the bin's top-1
    predictions that are right; both NaN for an empty bin) and ``count`` int [num_bins].
    ECE = sum over non-empty bins of count/N * |accuracy - confidence|.
    """
    confidence, correct, bins = _confidence_bins(probs, labels, num_bins)
    count = np.bincount(bins, minlength=num_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_confidence = np.bincount(bins, confidence, num_bins) / count
        accuracy = np.bincount(bins, correct, num_bins) / count
    return {
        "bin_edges": np.linspace(0.0, 1.0, num_bins + 1),
        "confidence": np.where(count > 0, mean_confidence, np.nan),
        "accuracy": np.where(count > 0, accuracy, np.nan),
        "count": count,
    }
