"""Evaluation metrics computed on the host from collected predictions."""

from mixer_vit.metrics.calibration import expected_calibration_error, reliability_bins
from mixer_vit.metrics.classification import classification_report, top_k_accuracy
from mixer_vit.metrics.open_set import (
    coverage_accuracy_curve,
    per_class_thresholds,
    predict_with_rejection,
)
from mixer_vit.metrics.temperature_scaling import (
    apply_temperature,
    fit_temperature,
    mean_nll,
    probs_as_logits,
)

__all__ = [
    "apply_temperature",
    "classification_report",
    "coverage_accuracy_curve",
    "expected_calibration_error",
    "fit_temperature",
    "mean_nll",
    "per_class_thresholds",
    "predict_with_rejection",
    "probs_as_logits",
    "reliability_bins",
    "top_k_accuracy",
]
