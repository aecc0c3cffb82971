"""The figures of one or several runs, shared by ``make_plots`` (PNG files) and
``tensorboard_images`` (images in the run's event file)."""

from __future__ import annotations

from collections.abc import Sequence

from matplotlib.figure import Figure

from mixer_vit.run_plots.class_names import class_names_for
from mixer_vit.run_plots.confusion_plot import plot_confusion
from mixer_vit.run_plots.curve_data import curve_data
from mixer_vit.run_plots.curves_plot import plot_curves
from mixer_vit.run_plots.reliability_plot import plot_reliability
from mixer_vit.run_plots.run_files import RunFiles


def test_split_of(run: RunFiles) -> str:
    return ((run.config or {}).get("data") or {}).get("test_split") or "test"


def curves_figure(runs: Sequence[RunFiles]) -> Figure:
    return plot_curves([(run.label, curve_data(run.rows), test_split_of(run)) for run in runs])


def confusion_figure(run: RunFiles) -> Figure | None:
    """None when the run has no test report yet."""
    if not run.report or "confusion" not in run.report:
        return None
    confusion = run.report["confusion"]
    names = class_names_for(run.config, len(confusion))
    return plot_confusion(confusion, names, f"{run.label}: {test_split_of(run)} confusion")


def reliability_figure(run: RunFiles) -> Figure | None:
    """None when the run has no test report, or one written before it stored its bins."""
    if not run.report or "reliability" not in run.report:
        return None
    return plot_reliability(run.report["reliability"], run.report.get("ece"), run.label,
                            run.report.get("temperature_scaling"))


def missing_plot_notes(run: RunFiles) -> list[str]:
    """One line per per-run plot that cannot be drawn, saying why."""
    if not run.report:
        return [f"{run.label}: no test_report.json (the run has not finished); curves only"]
    notes = []
    if "confusion" not in run.report:
        notes.append(f"{run.label}: test_report.json has no confusion matrix; skipped")
    if "reliability" not in run.report:
        notes.append(
            f"{run.label}: test_report.json has no reliability bins (written by an older "
            f"version); reliability diagram skipped"
        )
    return notes
