"""Temperature scaling (Guo et al., 2017): one scalar T > 0 that divides every logit,
fitted by minimising the negative log-likelihood on held-out (validation) predictions.

Dividing logits by T changes the confidence of every prediction but never its top-1
class, so accuracy stays the same while calibration (ECE, NLL) improves when the model
is over- (T > 1) or under-confident (T < 1).

Only probabilities may be at hand (the test report keeps ``probs`` [N, K]); their logs
serve as logits, because softmax(log p / T) = softmax(z / T) when p = softmax(z) (the
log-sum-exp of z is a per-row constant that the softmax cancels). Probabilities are
clipped at ``TINY`` first, so a float32 softmax that rounded to 0 stays finite.

The NLL is convex in beta = 1/T: its derivative in beta is the mean over examples of
E_{softmax(beta z)}[z] - z_label, and its second derivative the mean variance of z under
softmax(beta z), >= 0. The fit bisects the derivative's sign change in log(beta), inside
[1 / MAX_TEMPERATURE, 1 / MIN_TEMPERATURE].
"""

from __future__ import annotations

import numpy as np

from mixer_vit.errors import UserError

TINY = float(np.finfo(np.float32).tiny)  # ~1.2e-38: a float32 probability that rounded to 0
MIN_TEMPERATURE, MAX_TEMPERATURE = 1e-2, 1e2  # the search interval of the fit
_BISECTION_STEPS = 80  # the interval's log-width (9.2) / 2^80: far below float64 precision


def probs_as_logits(probs: np.ndarray) -> np.ndarray:
    """probs [N, K] -> log(max(probs, TINY)) [N, K] float64, usable as logits."""
    return np.log(np.maximum(np.asarray(probs, dtype=np.float64), TINY))


def _checked(logits: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """fit_temperature's inputs as float64 logits [N, K] and labels [N], or a UserError."""
    logits, labels = np.asarray(logits, dtype=np.float64), np.asarray(labels)
    if logits.ndim != 2 or labels.ndim != 1 or len(logits) != len(labels) or not len(labels):
        raise UserError(
            f"fit_temperature needs logits [N, K] and labels [N] with N > 0; got shapes "
            f"{logits.shape} and {labels.shape}"
        )
    num_classes = logits.shape[1]
    if not np.issubdtype(labels.dtype, np.integer) or not (
        0 <= labels.min() and labels.max() < num_classes
    ):
        raise UserError(
            f"fit_temperature needs integer labels in [0, {num_classes}); got {labels.dtype} "
            f"values in [{labels.min()}, {labels.max()}]"
        )
    if not np.isfinite(logits).all():
        raise UserError(
            "fit_temperature needs finite logits; pass probabilities through probs_as_logits"
        )
    return logits, labels


def _nll_slope(logits: np.ndarray, labels: np.ndarray, beta: float) -> float:
    """d/d beta of mean_i [logsumexp(beta z_i) - beta z_i,label]."""
    scaled = beta * logits
    weights = np.exp(scaled - scaled.max(-1, keepdims=True))
    weights /= weights.sum(-1, keepdims=True)
    expected = (weights * logits).sum(-1)
    return float(np.mean(expected - logits[np.arange(len(labels)), labels]))


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """The T > 0 minimising mean_i -log softmax(logits_i / T)[labels_i].

    logits: [N, K] logits or log-probabilities (``probs_as_logits``); labels: int [N].
    Returns 1.0 when no T changes the NLL (every row constant); MIN_TEMPERATURE or
    MAX_TEMPERATURE when the minimum lies beyond them (e.g. every validation prediction
    right, where the NLL keeps falling as T -> 0).
    """
    logits, labels = _checked(logits, labels)
    if np.all(logits.max(-1) == logits.min(-1)):
        return 1.0
    low, high = np.log(1 / MAX_TEMPERATURE), np.log(1 / MIN_TEMPERATURE)  # log beta
    if _nll_slope(logits, labels, np.exp(low)) >= 0:
        return MAX_TEMPERATURE
    if _nll_slope(logits, labels, np.exp(high)) <= 0:
        return MIN_TEMPERATURE
    for _ in range(_BISECTION_STEPS):
        middle = 0.5 * (low + high)
        if _nll_slope(logits, labels, np.exp(middle)) < 0:
            low = middle
        else:
            high = middle
    return float(np.exp(-0.5 * (low + high)))


def apply_temperature(probs: np.ndarray, temperature: float) -> np.ndarray:
    """probs [N, K] -> softmax(log(probs) / temperature) [N, K] float64 (rows sum to 1)."""
    if not np.isfinite(temperature) or temperature <= 0:
        raise UserError(f"temperature must be a positive number; got {temperature}")
    scaled = probs_as_logits(probs) / temperature
    scaled = np.exp(scaled - scaled.max(-1, keepdims=True))
    return scaled / scaled.sum(-1, keepdims=True)


def mean_nll(probs: np.ndarray, labels: np.ndarray) -> float:
    """mean_i -log(max(probs[i, labels[i]], TINY)); probs [N, K], labels int [N]."""
    probs, labels = np.asarray(probs), np.asarray(labels)
    return float(-np.mean(probs_as_logits(probs[np.arange(len(labels)), labels])))
