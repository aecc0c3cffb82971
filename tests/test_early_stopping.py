"""Early stopping stops at the right evaluation on scripted metric sequences."""

import pytest

from mixer_vit.train.early_stopping import EarlyStopping


def first_stop(stopper, values):
    for epoch, value in enumerate(values, start=1):
        _, stop = stopper.update(value, step=epoch * 10)
        if stop:
            return epoch
    return None


def test_stops_after_patience_evaluations_without_improvement():
    values = [0.5, 0.6, 0.7, 0.69, 0.7, 0.65, 0.8]
    stopper = EarlyStopping(patience=3, mode="max")
    assert first_stop(stopper, values) == 6  # no gain at epochs 4, 5 (tie), 6
    assert (stopper.best, stopper.best_step) == (0.7, 30)


def test_min_delta_ignores_tiny_gains():
    stopper = EarlyStopping(patience=2, min_delta=0.01, mode="max")
    assert first_stop(stopper, [0.5, 0.505, 0.509, 0.6]) == 3
    assert stopper.best == 0.5


def test_min_mode_for_losses_and_state_round_trip():
    stopper = EarlyStopping(patience=2, mode="min")
    assert first_stop(stopper, [1.0, 0.8, 0.9]) is None
    resumed = EarlyStopping(patience=2, mode="min")
    resumed.restore(stopper.state())
    assert resumed.update(0.85, 40) == (False, True)
    assert resumed.best_step == 20


def test_bad_settings():
    with pytest.raises(ValueError, match="mode"):
        EarlyStopping(patience=2, mode="up")
    with pytest.raises(ValueError, match="patience"):
        EarlyStopping(patience=0)
