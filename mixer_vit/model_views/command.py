"""``mixer-vit show --workdir DIR [--images PATH[,PATH...]] [--out DIR] [--layers 0,5]
[--heads 0,1] [--units 32] [--step N]`` (cli.py only dispatches here).

Loads a trained run (``mixer_vit.train.trained_model``), reads the image files as the
run's data set stores its images and preprocesses them as the run evaluates, and writes
every picture that applies to the model as PNG files (``render.py``).
"""

from __future__ import annotations

import os

from absl import flags

from mixer_vit.errors import UserError

from .render import DEFAULT_UNITS


def define_flags(fv: flags.FlagValues) -> None:
    flags.DEFINE_string("workdir", None, "A `mixer-vit train` workdir.", flag_values=fv)
    flags.DEFINE_list(
        "images", None, "Image files, comma-separated (needed for attention models).",
        flag_values=fv,
    )
    flags.DEFINE_string(
        "out", None, "Folder for the PNG files (default: WORKDIR/pictures).", flag_values=fv
    )
    flags.DEFINE_list(
        "layers", None,
        "Attention layers or token-mixing blocks, e.g. 0,5 (default: up to 6 attention "
        "layers from first to last; the first 2 token-mixing blocks).",
        flag_values=fv,
    )
    flags.DEFINE_list("heads", None, "Attention heads, e.g. 0,1 (default: up to 12).",
                      flag_values=fv)
    flags.DEFINE_integer(
        "units", DEFAULT_UNITS, "Token-mixing hidden units drawn per block.", flag_values=fv
    )
    flags.DEFINE_integer("step", None, "Checkpoint step (default: the latest).", flag_values=fv)


def run_command(fv: flags.FlagValues) -> int:
    from mixer_vit.train.trained_model import load_trained_model

    from .images import check_image_files, model_inputs
    from .render import file_stems, render_views
    from .selection import parse_indices

    if not fv.workdir:
        raise UserError("missing --workdir; e.g. --workdir workdirs/digits")
    layers = parse_indices(fv.layers, "layers")
    heads = parse_indices(fv.heads, "heads")
    paths = [p for p in (fv.images or []) if p]
    check_image_files(paths)
    trained = load_trained_model(fv.workdir, fv.step)
    images = None
    if paths:
        images = model_inputs(
            paths, trained.stored_image_shape, trained.preprocess, trained.image_shape
        )
    out_dir = fv.out or os.path.join(fv.workdir, "pictures")
    written = render_views(
        trained,
        images,
        out_dir,
        names=file_stems(paths) if paths else None,
        layers=layers,
        heads=heads,
        units=fv.units,
    )
    for path in written:
        print(path)
    print(f"{len(written)} pictures of step {trained.step} in {out_dir}")
    return 0
