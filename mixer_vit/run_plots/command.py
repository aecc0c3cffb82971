"""``mixer-vit plot --workdir DIR [DIR ...] [--out DIR]`` (cli.py only dispatches here).

Writes the training curves of the runs overlaid, each finished run's confusion matrix and
reliability diagram, and index.html showing them, into ``--out`` (default for a single
workdir: WORKDIR/plots). A population workdir stands for its members.
"""

from __future__ import annotations

from collections.abc import Sequence

from absl import flags

WORKDIR_FLAGS = ("--workdir", "-workdir")


def define_flags(fv: flags.FlagValues) -> None:
    flags.DEFINE_multi_string(
        "workdir", [], "Training workdir(s): list several after the flag, or repeat it",
        flag_values=fv,
    )
    flags.DEFINE_string(
        "out", None, "Output folder (default for one workdir: WORKDIR/plots).", flag_values=fv
    )


def expand_workdir_args(argv: Sequence[str]) -> list[str]:
    """``--workdir A B --out O`` -> ``--workdir A --workdir B --out O``: the arguments
    that follow a ``--workdir`` value up to the next flag are further workdirs."""
    expanded, after_workdir, value_next = [], False, False
    for arg in argv:
        if value_next:
            expanded.append(arg)
            value_next, after_workdir = False, True
        elif arg in WORKDIR_FLAGS:
            expanded.append(arg)
            value_next = True
        elif arg.split("=", 1)[0] in WORKDIR_FLAGS:
            expanded.append(arg)
            after_workdir = True
        elif after_workdir and not arg.startswith("-"):
            expanded.extend(["--workdir", arg])
        else:
            expanded.append(arg)
            after_workdir = False
    return expanded


def run_command(fv: flags.FlagValues) -> int:
    from mixer_vit.run_plots.make_plots import make_plots

    written = make_plots(list(fv.workdir), fv.out)
    for note in written.notes:
        print(f"note: {note}")
    print(f"wrote {len(written.images)} plot(s) and {written.index}")
    return 0
