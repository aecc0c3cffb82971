"""Temperature scaling (mixer_vit/metrics/temperature_scaling.py) against a brute-force grid
and synthetic data with a known temperature, and the test report's temperature_scaling
section."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mixer_vit.errors import UserError
from mixer_vit.metrics import (
    apply_temperature,
    expected_calibration_error,
    fit_temperature,
    mean_nll,
    probs_as_logits,
    reliability_bins,
)
from mixer_vit.metrics.temperature_scaling import MIN_TEMPERATURE
from mixer_vit.train.test_report import build_report


def _softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _grid_nll(logits, labels, temperatures):
    """mean NLL of softmax(logits / T) for each T, by an explicit log-sum-exp per T."""
    rows = np.arange(len(labels))
    out = []
    for t in temperatures:
        z = logits / t
        top = z.max(-1)
        log_norm = top + np.log(np.exp(z - top[:, None]).sum(-1))
        out.append(np.mean(log_norm - z[rows, labels]))
    return np.array(out)


def _sampled(seed, n, k, t_true, scale=3.0):
    """logits [n, k] and labels drawn from softmax(logits / t_true)."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n, k)) * scale
    p = _softmax(logits / t_true)
    labels = (p.cumsum(-1) > rng.random((n, 1))).argmax(-1)
    return logits, labels


def test_fit_matches_a_brute_force_grid():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(400, 7)) * 4
    labels = rng.integers(0, 7, size=400)
    labels[:250] = logits[:250].argmax(-1)  # mostly right, overconfident: T well above 1
    grid = np.linspace(0.5, 8.0, 15001)  # spacing 5e-4
    nll = _grid_nll(logits, labels, grid)
    best = grid[nll.argmin()]
    assert 1.0 < best < 7.9  # an interior minimum
    fitted = fit_temperature(logits, labels)
    assert abs(fitted - best) <= 5e-4
    assert _grid_nll(logits, labels, [fitted])[0] <= nll.min() + 1e-12


@pytest.mark.parametrize("t_true", [0.5, 2.5])
def test_fit_recovers_the_temperature_that_generated_the_labels(t_true):
    logits, labels = _sampled(1, 40_000, 10, t_true)
    assert fit_temperature(logits, labels) == pytest.approx(t_true, rel=0.03)


def test_log_probabilities_give_the_same_temperature_as_the_logits():
    logits, labels = _sampled(2, 5_000, 10, 1.7)
    probs = _softmax(logits).astype(np.float32)  # what the report holds
    from_logits = fit_temperature(logits, labels)
    assert fit_temperature(probs_as_logits(probs), labels) == pytest.approx(from_logits, rel=1e-4)
    np.testing.assert_allclose(
        apply_temperature(probs, from_logits), _softmax(logits / from_logits), atol=1e-6
    )


def test_temperature_one_leaves_probabilities_unchanged_and_nll_is_the_mean_log_loss():
    rng = np.random.default_rng(3)
    probs = rng.dirichlet(np.full(5, 0.7), size=50)
    np.testing.assert_allclose(apply_temperature(probs, 1.0), probs, rtol=1e-12, atol=1e-15)
    labels = rng.integers(0, 5, size=50)
    assert mean_nll(probs, labels) == pytest.approx(-np.log(probs[np.arange(50), labels]).mean())
    sharper = apply_temperature(probs, 0.5)  # p^2 renormalised
    np.testing.assert_allclose(sharper, probs**2 / (probs**2).sum(-1, keepdims=True), rtol=1e-12)
    np.testing.assert_array_equal(sharper.argmax(-1), probs.argmax(-1))


def test_degenerate_inputs():
    labels = np.array([0, 1, 2])
    assert fit_temperature(np.zeros((3, 3)), labels) == 1.0  # no T changes anything
    all_right = np.eye(3) * 2.0  # the NLL keeps falling as T -> 0
    assert fit_temperature(all_right, labels) == MIN_TEMPERATURE
    # a probability that rounded to 0 stays finite
    assert np.isfinite(mean_nll(np.array([[1.0, 0.0]], np.float32), np.array([1])))


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: fit_temperature(np.zeros((4, 3)), np.zeros(5, int)),
         r"shapes \(4, 3\) and \(5,\)"),
        (lambda: fit_temperature(np.zeros(4), np.zeros(4, int)), r"logits \[N, K\]"),
        (lambda: fit_temperature(np.zeros((2, 3)), np.array([0, 3])), r"labels in \[0, 3\)"),
        (lambda: fit_temperature(np.zeros((2, 3)), np.array([0.0, 1.0])), "integer labels"),
        (lambda: fit_temperature(np.log(np.zeros((2, 3))), np.array([0, 1])), "finite logits"),
        (lambda: apply_temperature(np.ones((2, 3)) / 3, 0.0), "positive"),
    ],
)
def test_bad_inputs_are_one_line_user_errors(call, message):
    with np.errstate(divide="ignore"), pytest.raises(UserError, match=message) as error:
        call()
    assert "\n" not in str(error.value)


# -- the test report's section -------------------------------------------------------------
def test_report_section_is_temperature_scaling_fitted_on_validation():
    val_logits, val_labels = _sampled(4, 3_000, 6, 2.0)
    test_logits, test_labels = _sampled(5, 2_000, 6, 2.0)
    val_probs, test_probs = _softmax(val_logits), _softmax(test_logits)
    report = json.loads(json.dumps(build_report(
        [(val_probs[:1500], val_labels[:1500]), (val_probs[1500:], val_labels[1500:])],
        [(test_probs, test_labels)],
    )))
    section = report["temperature_scaling"]
    t = section["temperature"]
    assert t == pytest.approx(fit_temperature(val_logits, val_labels), rel=1e-6)
    assert t == pytest.approx(2.0, rel=0.1)
    scaled = _softmax(test_logits / t)
    ece_after = expected_calibration_error(scaled, test_labels)
    assert section["ece"] == pytest.approx(ece_after, abs=1e-9)
    assert section["ece"] == pytest.approx(
        expected_calibration_error(apply_temperature(test_probs, t), test_labels), abs=1e-12
    )
    rows = np.arange(len(test_labels))
    assert section["nll_before"] == pytest.approx(-np.log(test_probs[rows, test_labels]).mean())
    assert section["nll"] == pytest.approx(-np.log(scaled[rows, test_labels]).mean(), rel=1e-9)
    # the model was overconfident by T = 2: scaling fixes calibration, keeps the ranking
    assert section["nll"] < section["nll_before"] and section["ece"] < report["ece"] / 2
    after_bins = reliability_bins(scaled, test_labels)
    assert section["reliability"]["count"] == after_bins["count"].tolist()
    for got, want in zip(section["reliability"]["confidence"], after_bins["confidence"]):
        assert (got is None and np.isnan(want)) or got == pytest.approx(want, rel=1e-9)
    assert set(section["reliability"]) == set(report["reliability"])


# -- the reliability diagram (mixer-vit plot) ------------------------------------------------
def test_reliability_diagram_overlays_the_temperature_scaled_bins():
    from mixer_vit.run_plots.canvas import figure_rgb
    from mixer_vit.run_plots.reliability_plot import SCALED_LABEL, plot_reliability

    val_logits, val_labels = _sampled(6, 2_000, 5, 2.0)
    test_logits, test_labels = _sampled(7, 1_000, 5, 2.0)
    report = json.loads(json.dumps(build_report(
        [(_softmax(val_logits), val_labels)], [(_softmax(test_logits), test_labels)]
    )))
    section = report["temperature_scaling"]
    bins = reliability_bins(_softmax(test_logits / section["temperature"]), test_labels)
    filled = bins["count"] > 0

    def overlay(figure):
        top, bottom = figure.axes
        lines = [line for line in top.get_lines() if line.get_label().startswith(SCALED_LABEL)]
        return lines, bottom.get_lines(), top.get_title()

    figure = plot_reliability(report["reliability"], report["ece"], "run", section)
    (line,), (counts,), title = overlay(figure)
    np.testing.assert_allclose(line.get_xdata(), bins["confidence"][filled], rtol=1e-9)
    np.testing.assert_allclose(line.get_ydata(), bins["accuracy"][filled], rtol=1e-9)
    np.testing.assert_array_equal(counts.get_ydata()[:-1], bins["count"])
    t = section["temperature"]
    assert title == f"run: ECE {report['ece']:.4f}, {section['ece']:.4f} after T {t:.3g}"
    assert figure_rgb(figure).shape == (650, 550, 3)
    # a report without the section (older runs) draws the diagram alone
    lines, count_lines, title = overlay(plot_reliability(report["reliability"], 0.1, "old"))
    assert lines == [] and count_lines == [] and title == "old: ECE 0.1000"
