"""At the end of a run: its curves, confusion matrix and reliability diagram as images in
its TensorBoard files (tags ``plots/curves``, ``plots/confusion``, ``plots/reliability``).

Drawing takes well under a second; a failure is logged as a warning and never ends the
run (the metrics and test_report.json are already written).
"""

from __future__ import annotations

import logging
import os

log = logging.getLogger(__name__)

TAGS = ("plots/curves", "plots/confusion", "plots/reliability")


def write_end_of_run_images(writer, workdir: str, step: int) -> list[str]:
    """writer: the run's ``MetricsWriter`` (its ``add_image`` does nothing off process 0).
    Reads workdir's metrics.jsonl, test_report.json and config.json; returns the tags
    written (none after a failure)."""
    if not getattr(writer, "enabled", True):
        return []
    try:
        from mixer_vit.run_plots.canvas import figure_rgb
        from mixer_vit.run_plots.run_figures import (
            confusion_figure,
            curves_figure,
            reliability_figure,
        )
        from mixer_vit.run_plots.run_files import read_run

        run = read_run(workdir, os.path.basename(os.path.normpath(workdir)))
        figures = (curves_figure([run]), confusion_figure(run), reliability_figure(run))
        written = []
        for tag, figure in zip(TAGS, figures):
            if figure is not None:
                writer.add_image(tag, figure_rgb(figure), step)
                written.append(tag)
        return written
    except Exception as e:  # noqa: BLE001 - plots must never fail a finished run
        log.warning("could not write the end-of-run plots to TensorBoard: %r", e)
        return []
