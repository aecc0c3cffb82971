"""The test report's ``early_stopping`` section: the test split on the best-validation
checkpoint (what the run reports as its result) and on the last state it trained to.

A run with early stopping keeps its best validation state in ``WORKDIR/best``; the loop
evaluates the test split on the last state first (``test_accuracy_last``), then restores
the best one for the report (``test_accuracy_best``). The steps say where each came from:
``stopped_step`` is the last step trained, early stopping's or the schedule's end
(``stopped_early`` tells which).
"""

from __future__ import annotations


def early_stopping_section(
    *,
    best_step: int,
    stopped_step: int,
    steps_per_epoch: int,
    stopped_early: bool,
    test_best: dict[str, float],
    test_last: dict[str, float],
) -> dict:
    """test_best / test_last: ``evaluate``'s results (``accuracy``, ``loss``) on the test
    split with the best-validation and the last state. Epochs are counted from 1 (the
    epoch a step ends or falls in: step 19 of 19 steps per epoch is epoch 1)."""

    def epoch(step: int) -> int:
        return -(-int(step) // int(steps_per_epoch))  # ceil

    return {
        "best_step": int(best_step),
        "best_epoch": epoch(best_step),
        "stopped_step": int(stopped_step),
        "stopped_epoch": epoch(stopped_step),
        "stopped_early": bool(stopped_early),
        "test_accuracy_best": float(test_best["accuracy"]),
        "test_accuracy_last": float(test_last["accuracy"]),
        "test_loss_best": float(test_best["loss"]),
        "test_loss_last": float(test_last["loss"]),
    }
