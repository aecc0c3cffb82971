"""Expected calibration error (Guo et al., 2017)."""

from __future__ import annotations

import numpy as np


def expected_calibration_error(probs: np.ndarray, labels: np.ndarray, num_bins: int = 15) -> float:
    """sum_b |B_b|/N * |accuracy(B_b) - confidence(B_b)| over equal-width confidence bins.

    probs: [N, K] probabilities; labels: int [N]. Confidence is the top probability; bin b
    holds confidences in (b/num_bins, (b+1)/num_bins] (the first bin also takes 0).
    """
    confidence = probs.max(-1)
    correct = (probs.argmax(-1) == labels).astype(np.float64)
    bins = np.clip(np.ceil(confidence * num_bins).astype(int) - 1, 0, num_bins - 1)
    error = 0.0
    for b in range(num_bins):
        in_bin = bins == b
        if in_bin.any():
            error += in_bin.mean() * abs(correct[in_bin].mean() - confidence[in_bin].mean())
    return float(error)
