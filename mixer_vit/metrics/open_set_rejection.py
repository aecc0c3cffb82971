"""Open-set rejection compared: no rejection, one global threshold, per-class thresholds.

The setting: a classifier over K' known classes meets images of classes it never saw
(label -1, "unknown"). A rejection rule turns its probabilities ``probs [N, K']`` into
predictions ``[N]``: the arg-max class, or -1 ("rejected: none of the known classes").
The rules compared:

- none: never reject;
- global: reject when the top probability is below one threshold t;
- per_class: reject when the top probability is below the threshold t_c of the predicted
  class c (``open_set.predict_with_rejection``).

Scores (``known_class_scores``), for every known class c over the evaluated images (known
and unknown together): TP_c = images of class c predicted c and accepted; FP_c = images
accepted as c that are not of class c (another known class, or an unknown image);
FN_c = images of class c not accepted as c (predicted another class, or rejected).
precision_c = TP_c / (TP_c + FP_c) (0 for a class nothing was accepted as), recall_c =
TP_c / (TP_c + FN_c) (0 for a class with no images), F1_c = 2 TP_c / (2 TP_c + FP_c +
FN_c) (their harmonic mean; 0 when all three counts are 0). Macro precision, recall and
F1 are the unweighted means over the K' known classes ("unknown" is not a class of the
average: a rejected unknown image is in no count, so rejecting it raises the precision of
the class it would have been accepted as, and a rejected known image is an FN of its
class). Beside them: ``unknown_rejection`` (fraction of unknown images rejected),
``known_rejection`` (fraction of known images rejected) and ``coverage`` (fraction of all
images accepted).

Choosing the thresholds (``f1_thresholds``, ``matched_global_threshold``), on a
validation split that holds unknown images: the per-class thresholds maximise each known
class's validation F1, and the global threshold then accepts the same fraction of the
validation images (matched coverage). Why this pairing: coverage is the budget of a
rejecting system (how many inputs it answers); at equal coverage the two rules differ only
in *which* images they reject, which is the question (is one threshold per class better
than one for all?). The per-class operating point is the one a practitioner would choose
(best validation F1), found exactly: t_c moves only TP_c and FP_c (rejecting an image
predicted c takes it out of class c's counts alone; FN_c = support_c - TP_c), so F1_c
depends on t_c alone and maximising each class's F1 maximises the macro F1. Matching the
other way (the global threshold at its best F1, per-class ones at its coverage) has no
unique per-class answer; a fixed target coverage would have to guess the unknown fraction.
"""

from __future__ import annotations

import numpy as np

from mixer_vit.metrics.open_set import predict_with_rejection

UNKNOWN = -1  # label of an unknown image; prediction of a rejected one


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator elementwise, 0 where the denominator is 0."""
    numerator, denominator = np.asarray(numerator, float), np.asarray(denominator, float)
    out = np.zeros_like(numerator)
    np.divide(numerator, denominator, out=out, where=denominator > 0)
    return out


def _fraction(mask: np.ndarray) -> float | None:
    """Mean of a boolean mask; None (JSON null) for an empty one."""
    return float(mask.mean()) if mask.size else None


def known_class_scores(
    predictions: np.ndarray, labels: np.ndarray, num_known: int
) -> dict[str, float | None]:
    """predictions: int [N], a known class 0..K'-1 or -1 (rejected); labels: int [N], the
    true known class or -1 (an unknown image); num_known: K'.

    Returns precision, recall, f1 (macro over the K' known classes, see the module doc),
    unknown_rejection, known_rejection (None when there are no such images) and
    coverage."""
    predictions, labels = np.asarray(predictions), np.asarray(labels)
    classes = np.arange(num_known)[:, None]  # [K', 1] against [N]
    predicted, actual = predictions[None] == classes, labels[None] == classes
    tp = (predicted & actual).sum(1)
    fp = (predicted & ~actual).sum(1)
    fn = (~predicted & actual).sum(1)
    rejected, unknown = predictions == UNKNOWN, labels == UNKNOWN
    return {
        "precision": float(_ratio(tp, tp + fp).mean()),
        "recall": float(_ratio(tp, tp + fn).mean()),
        "f1": float(_ratio(2 * tp, 2 * tp + fp + fn).mean()),
        "unknown_rejection": _fraction(rejected[unknown]),
        "known_rejection": _fraction(rejected[~unknown]),
        "coverage": float((~rejected).mean()) if rejected.size else 0.0,
    }


def f1_thresholds(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Per-class thresholds float [K'] maximising each known class's F1 on ``probs``
    [N, K'] with ``labels`` [N] (known class or -1).

    For class c, take the images predicted c (arg-max) by falling top probability;
    accepting the first m gives TP(m) (the class-c ones among them) and F1_c(m) = 2 TP(m)
    / (m + support_c) (support_c: images of class c). m runs over the ends of runs of
    equal confidence (a threshold cannot split a tie); the best m wins, ties going to the
    larger m (more accepted), and t_c is the m-th confidence (accept ``conf >= t_c``).
    A class nothing is predicted as gets 0.0 (no image to decide on)."""
    predictions, confidence = probs.argmax(-1), probs.max(-1)
    thresholds = np.zeros(probs.shape[-1])
    for c in range(probs.shape[-1]):
        mine = np.flatnonzero(predictions == c)
        if not mine.size:
            continue
        order = mine[np.argsort(-confidence[mine], kind="stable")]
        conf = confidence[order]
        tp = np.cumsum(labels[order] == c)
        m = np.arange(1, order.size + 1)
        f1 = 2 * tp / (m + np.sum(labels == c))
        cut = np.append(conf[1:] < conf[:-1], True)  # m ends a run of equal confidence
        best = np.flatnonzero(cut & (f1 == f1[cut].max())).max()
        thresholds[c] = conf[best]
    return thresholds


def matched_global_threshold(confidence: np.ndarray, coverage: float) -> float:
    """The threshold on the top probability (``confidence`` float [N]) accepting the
    n = round(coverage * N) most confident images: the n-th largest confidence (a tie at
    the cut accepts the whole tie, so the coverage reached can be a little higher); above
    the largest confidence when n = 0."""
    ordered = np.sort(np.asarray(confidence, float))[::-1]
    n = int(round(coverage * ordered.size))
    if n == 0:
        return float(np.nextafter(ordered[0], np.inf)) if ordered.size else 1.0
    return float(ordered[n - 1])


def compare_rejection(
    val_probs: np.ndarray, val_labels: np.ndarray, test_probs: np.ndarray, test_labels: np.ndarray
) -> dict[str, dict]:
    """The three rules, chosen on validation and scored on test (module doc).

    val_probs [Nv, K'], val_labels [Nv], test_probs [Nt, K'], test_labels [Nt] (label -1:
    unknown image). Returns {"none": scores, "global": scores + threshold and
    validation_coverage, "per_class": scores + thresholds [K'] and validation_coverage},
    scores as ``known_class_scores`` computes them on test."""
    num_known = val_probs.shape[-1]
    per_class = f1_thresholds(val_probs, val_labels)
    val_coverage = float((predict_with_rejection(val_probs, per_class) != UNKNOWN).mean())
    threshold = matched_global_threshold(val_probs.max(-1), val_coverage)
    flat = np.full(num_known, threshold)

    def scored(thresholds: np.ndarray) -> dict:
        return known_class_scores(
            predict_with_rejection(test_probs, thresholds), test_labels, num_known
        )

    return {
        "none": scored(np.zeros(num_known)),
        "global": {
            **scored(flat),
            "threshold": threshold,
            "validation_coverage": float((val_probs.max(-1) >= threshold).mean()),
        },
        "per_class": {
            **scored(per_class),
            "thresholds": per_class.tolist(),
            "validation_coverage": val_coverage,
        },
    }
