"""``mixer-vit convert``: a timm or big_vision weight file -> a converted directory."""

from __future__ import annotations

import jax

from mixer_vit.convert.big_vision_npz import OFFICIAL_OVERRIDES, convert_big_vision
from mixer_vit.convert.save_load import check_output_dir, save_converted
from mixer_vit.convert.timm_registry import convert_timm
from mixer_vit.convert.tree_assign import ConversionError
from mixer_vit.convert.weight_files import load_weight_file
from mixer_vit.models import list_models, model_default_image_size

SOURCES = {"timm": convert_timm, "big_vision": convert_big_vision}
SOURCE_OVERRIDES = {"timm": {}, "big_vision": OFFICIAL_OVERRIDES}
"""Model fields a source's weights need, recorded in the converted directory."""


def convert_to_directory(
    model_name: str,
    source: str,
    weights_path: str,
    out_dir: str,
    image_size: int | None = None,
    num_classes: int | None = None,
) -> str:
    """Converts ``weights_path`` into ``model_name`` and saves it to ``out_dir`` (see
    ``save_load.py``); returns a one-line summary. Every user mistake (unknown model,
    missing or pickle file, weights that don't fit, non-empty ``out_dir``) raises a
    one-line ``UserError`` before anything is written."""
    if source not in SOURCES:
        raise ConversionError(f"unknown --from {source!r}; use one of {', '.join(SOURCES)}")
    if model_name not in list_models():
        model_default_image_size(model_name)  # raises the registry's one-line error
    check_output_dir(out_dir)
    weights = load_weight_file(weights_path)
    size = image_size or model_default_image_size(model_name)
    overrides = dict(SOURCE_OVERRIDES[source])
    if num_classes is not None:
        overrides["num_classes"] = num_classes
    _, variables = SOURCES[source](model_name, weights, image_size=size, **overrides)
    save_converted(out_dir, model_name, overrides, size, variables, f"{source}:{weights_path}")
    count = sum(int(x.size) for x in jax.tree.leaves(variables["params"]))
    return (
        f"converted {weights_path} ({source}) into {model_name} at {size}px: "
        f"{count:,} parameters saved to {out_dir}"
    )
