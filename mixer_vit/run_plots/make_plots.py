"""``make_plots(workdirs, out)``: curves of all runs overlaid, each finished run's
confusion matrix and reliability diagram, and index.html, into one folder."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence

from mixer_vit.errors import UserError
from mixer_vit.run_plots.canvas import save_png
from mixer_vit.run_plots.index_page import write_index
from mixer_vit.run_plots.run_figures import (
    confusion_figure,
    curves_figure,
    missing_plot_notes,
    reliability_figure,
)
from mixer_vit.run_plots.run_files import open_runs

PLOTS_DIR = "plots"  # the default output folder inside a single workdir
CURVES_FILE = "curves.png"


@dataclasses.dataclass
class PlotsWritten:
    """out: the folder; images: the PNG paths written; index: index.html's path; notes:
    one line per plot left out and why."""

    out: str
    images: list[str]
    index: str
    notes: list[str]


def output_folder(workdirs: Sequence[str], out: str | None) -> str:
    """``out``, or WORKDIR/plots for a single workdir; several need ``out`` (UserError)."""
    if out:
        if os.path.exists(out) and not os.path.isdir(out):
            raise UserError(f"--out {out} is a file; give a directory (created if missing)")
        return out
    if len(workdirs) > 1:
        raise UserError(
            f"{len(workdirs)} workdirs need --out DIR for their combined plots; "
            f"e.g. --out plots/compare"
        )
    return os.path.join(workdirs[0], PLOTS_DIR)


def make_plots(workdirs: Sequence[str], out: str | None = None) -> PlotsWritten:
    """Reads each workdir (a population workdir stands for its members) and writes
    curves.png, [RUN_]confusion.png and [RUN_]reliability.png per finished run (the RUN_
    prefix when there are several runs) and index.html into the output folder."""
    runs = open_runs(workdirs)
    out = output_folder(workdirs, out)
    os.makedirs(out, exist_ok=True)
    notes = [note for run in runs for note in run.notes]
    sections = [("Training curves", CURVES_FILE)]
    save_png(curves_figure(runs), os.path.join(out, CURVES_FILE))
    for run in runs:
        prefix = f"{run.slug}_" if len(runs) > 1 else ""
        for kind, heading, make in (
            ("confusion", "confusion matrix", confusion_figure),
            ("reliability", "reliability diagram", reliability_figure),
        ):
            figure = make(run)
            if figure is not None:
                file_name = f"{prefix}{kind}.png"
                save_png(figure, os.path.join(out, file_name))
                sections.append((f"{run.label}: {heading}", file_name))
        notes.extend(missing_plot_notes(run))
    index = write_index(out, runs, sections, notes)
    images = [os.path.join(out, file_name) for _, file_name in sections]
    return PlotsWritten(out, images, index, notes)
