"""``mixer-vit experiment NAME --arms A,B``: train only some arms; the report still covers
every arm with a summary in the results folder.

A chosen run that needs another run's workdir (a distillation teacher, say) brings that
run along, so ``--arms student`` never launches a student whose teacher was never trained.
"""

from __future__ import annotations

from collections.abc import Sequence

from mixer_vit.errors import UserError


def chosen_arms(all_arms: Sequence[str], flag: str | None) -> list[str]:
    """The arms ``--arms`` names (comma-separated), in the experiment file's order; every
    arm when the flag is unset. ``UserError`` for an unknown or empty selection."""
    if flag is None:
        return list(all_arms)
    named = [arm.strip() for arm in flag.split(",") if arm.strip()]
    if not named:
        raise UserError(f"--arms names no arm; give some of: {', '.join(all_arms)}")
    unknown = [arm for arm in named if arm not in all_arms]
    if unknown:
        raise UserError(
            f"--arms names unknown arm {unknown[0]!r}; this experiment's arms are: "
            f"{', '.join(all_arms)}"
        )
    return [arm for arm in all_arms if arm in named]


def runs_to_execute(runs: Sequence, arms: Sequence[str]) -> list:
    """The runs of ``arms`` and, transitively, every run whose workdir one of them needs
    (``PlannedRun.needs``), in ``runs`` order. Populations have no ``needs``."""
    by_workdir = {run.workdir: run for run in runs}
    keep = {id(run) for run in runs if run.arm in arms}
    stack = [run for run in runs if run.arm in arms]
    while stack:
        for workdir in getattr(stack.pop(), "needs", ()):
            needed = by_workdir.get(workdir)
            if needed is not None and id(needed) not in keep:
                keep.add(id(needed))
                stack.append(needed)
    return [run for run in runs if id(run) in keep]
