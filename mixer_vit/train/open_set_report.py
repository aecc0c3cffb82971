"""The ``open_set`` section of test_report.json, for a run with held-out classes
(``data.unknown_classes``, data/open_set_split.py).

The run's known-class validation and test predictions (those of the usual report) are
joined by the held-out classes' validation and test images (label -1), and the rejection
rules of metrics/open_set_rejection.py are chosen on that validation set and scored on
that test set.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from mixer_vit.metrics.open_set_rejection import compare_rejection

SELECTION = (
    "per-class thresholds maximise each known class's validation F1; the global threshold "
    "accepts the same fraction of validation images (matched coverage)"
)


@dataclasses.dataclass
class UnknownPredictions:
    """held_out: the held-out class ids; validation, test: lists of (probs [n, K'],
    labels [n] = -1) batches of the held-out classes' images of the run's validation and
    test splits (as ``evaluate`` appends them)."""

    held_out: tuple[int, ...]
    validation: list = dataclasses.field(default_factory=list)
    test: list = dataclasses.field(default_factory=list)


def _stack(*batch_lists: list, num_known: int) -> tuple[np.ndarray, np.ndarray]:
    """probs [N, K'] and labels [N] of every batch of every list, in order (an empty
    list adds nothing)."""
    batches = [batch for batches in batch_lists for batch in batches]
    probs = [np.asarray(p, np.float64).reshape(-1, num_known) for p, _ in batches]
    labels = [np.asarray(y, np.int64).reshape(-1) for _, y in batches]
    if not batches:
        return np.zeros((0, num_known)), np.zeros(0, np.int64)
    return np.concatenate(probs), np.concatenate(labels)


def open_set_report(validation: list, test: list, unknown: UnknownPredictions) -> dict:
    """validation, test: the known-class (probs [n, K'], labels [n]) batches of the run's
    report; unknown: the held-out classes' batches.

    Keys: held_out_classes, selection (how the thresholds were chosen), validation and
    test ({"known": n, "unknown": n} images), and per rule ``none``, ``global``,
    ``per_class`` the test scores of ``compare_rejection``: precision, recall, f1
    (known-class macro), unknown_rejection, known_rejection, coverage, plus the
    thresholds and their validation coverage."""
    num_known = int(np.asarray(validation[0][0]).shape[-1])
    val_probs, val_labels = _stack(validation, unknown.validation, num_known=num_known)
    test_probs, test_labels = _stack(test, unknown.test, num_known=num_known)

    def counts(labels: np.ndarray) -> dict[str, int]:
        return {"known": int((labels >= 0).sum()), "unknown": int((labels < 0).sum())}

    return {
        "held_out_classes": list(unknown.held_out),
        "selection": SELECTION,
        "validation": counts(val_labels),
        "test": counts(test_labels),
        **compare_rejection(val_probs, val_labels, test_probs, test_labels),
    }
