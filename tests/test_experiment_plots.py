"""The experiment plots from fabricated results.json content: accuracy against the number
of training examples (log axis, one line per series) and accuracy against inference img/s."""

from __future__ import annotations

import os

import matplotlib.image
import pytest

from mixer_vit.experiment.plot import (
    plot_accuracy_vs_throughput,
    plot_results,
    series_points,
    throughput_points,
    x_scale,
)


def stats(mean, std=None, n=1):
    return {"mean": mean, "std": std, "n": n}


def data_efficiency_results(plot_series: str) -> dict:
    """Two model families at 1%, 10% and 100% of a 50,000-image train split, listed out of
    order; the family is both the arm's series label and its model.name override."""
    arms, table = {}, {}
    for family in ("vit_s16", "resnet50"):
        for percent in (10, 1, 100):
            arm = f"{family}_{percent}pct"
            arms[arm] = {
                "config": "cifar.py",
                "overrides": {"model.name": family, "data.train_split": f"train[:{percent}%]"},
                "series": family.upper(),
            }
            accuracy = (0.3 if family == "vit_s16" else 0.4) + 0.005 * percent
            table[arm] = {"test_accuracy": stats(accuracy, 0.01, 3),
                          "train_examples": stats(500.0 * percent, 0.0, 3)}
    return {"experiment": "data_efficiency", "arms": arms, "table": table,
            "plot_x": "train_examples", "plot_series": plot_series, "inference": None}


@pytest.mark.parametrize("plot_series, labels", [("series", ("VIT_S16", "RESNET50")),
                                                 ("model.name", ("vit_s16", "resnet50"))])
def test_train_examples_lines_per_series_on_a_log_axis(tmp_path, plot_series, labels):
    results = data_efficiency_results(plot_series)
    lines = series_points(results)
    assert set(lines) == set(labels)
    vit, resnet = (lines[label] for label in labels)
    assert [x for x, _, _ in vit] == [500.0, 5000.0, 50000.0]  # sorted by size
    assert [y for _, y, _ in vit] == pytest.approx([30.5, 35.0, 80.0])
    assert [y for _, y, _ in resnet] == pytest.approx([40.5, 45.0, 90.0])
    assert all(err == pytest.approx(1.0) for _, _, err in vit + resnet)
    assert x_scale(results) == "log"
    path = plot_results(results, str(tmp_path / "accuracy.png"))
    assert matplotlib.image.imread(path).shape[2] in (3, 4)


def test_a_numeric_override_keeps_a_linear_axis():
    results = data_efficiency_results("series")
    for arm in results["arms"].values():
        arm["overrides"]["optim.lr"] = 0.001
    assert x_scale({**results, "plot_x": "optim.lr"}) == "linear"
    assert series_points({**results, "plot_x": "optim.lr"})["VIT_S16"][0][0] == 0.001


def test_accuracy_vs_throughput_one_point_per_timed_arm(tmp_path):
    results = data_efficiency_results("series")
    results["inference"] = {
        "device": "1 x cpu (cpu)",
        "arms": {"vit_s16_1pct": {"img_per_s": 1500.0}, "resnet50_1pct": {"img_per_s": 900.0},
                 "vit_s16_10pct": {"error": "ValueError: no"}},
    }
    points = throughput_points(results)
    assert [(arm, rate) for arm, rate, _, _ in points] == [
        ("vit_s16_1pct", 1500.0), ("resnet50_1pct", 900.0)]
    assert points[1][2:] == pytest.approx((40.5, 1.0))
    path = plot_accuracy_vs_throughput(results, str(tmp_path / "t" / "throughput.png"))
    assert os.path.getsize(path) > 1000
