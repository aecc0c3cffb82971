"""Saving converted weights to a directory (orbax) and loading them back for fine-tuning.

A converted directory holds::

    DIR/model.json    {"model": name, "overrides": {...}, "image_size": S, "channels": C,
                       "source": ...}   (C: input channels; a file without it means 3)
    DIR/variables/    orbax checkpoint of {"params": ..., ["batch_stats": ...]}

``load_converted(DIR)`` rebuilds the same model and returns its variables. Parameters are
kept in the per-block layout (``blocks_0 .. blocks_{d-1}``); for a model trained with
``scan_blocks=True`` restack them with
``mixer_vit.models.block_stacking.stack_block_params``.
"""

from __future__ import annotations

import json
import os
from typing import Any, Mapping

import flax.linen as nn
import orbax.checkpoint as ocp

from mixer_vit.convert.timm_registry import abstract_variables
from mixer_vit.convert.tree_assign import ConversionError
from mixer_vit.models import create_model

MODEL_FILE = "model.json"
VARIABLES_DIR = "variables"


def check_output_dir(out_dir: str) -> None:
    """``ConversionError`` if ``out_dir`` exists and is not an empty directory."""
    if os.path.exists(out_dir) and (not os.path.isdir(out_dir) or os.listdir(out_dir)):
        raise ConversionError(
            f"output directory {out_dir} already exists and is not empty; "
            "choose a new --out directory (nothing was overwritten)"
        )


def save_converted(
    out_dir: str,
    model_name: str,
    overrides: Mapping[str, Any],
    image_size: int,
    variables: Mapping[str, Any],
    source: str = "",
    channels: int = 3,
) -> None:
    """Writes ``variables`` ({"params": ..., ["batch_stats": ...]}) and the model identity.

    ``overrides`` must be JSON values (they are passed to ``create_model`` on load);
    ``channels``: of the input images, C of ``[B, S, S, C]`` (1 for grey images).
    """
    check_output_dir(out_dir)
    out_dir = os.path.abspath(out_dir)
    os.makedirs(out_dir, exist_ok=True)
    with ocp.StandardCheckpointer() as checkpointer:
        checkpointer.save(os.path.join(out_dir, VARIABLES_DIR), dict(variables))
        checkpointer.wait_until_finished()
    identity = {
        "model": model_name,
        "overrides": dict(overrides),
        "image_size": int(image_size),
        "channels": int(channels),
        "source": source,
    }
    with open(os.path.join(out_dir, MODEL_FILE), "w") as f:
        json.dump(identity, f, indent=2)


def load_converted(directory: str) -> tuple[nn.Module, dict[str, Any]]:
    """The ``(model, variables)`` saved by ``save_converted`` / ``mixer-vit convert``.

    ``model.apply(variables, images [B, S, S, C])`` with S the saved ``image_size`` and C
    its ``channels`` (3 when model.json names none).
    """
    directory = os.path.abspath(directory)
    meta_path = os.path.join(directory, MODEL_FILE)
    if not os.path.isfile(meta_path):
        raise ConversionError(f"{directory} holds no converted weights (no {MODEL_FILE})")
    with open(meta_path) as f:
        identity = json.load(f)
    model = create_model(identity["model"], **identity["overrides"])
    target = abstract_variables(model, identity["image_size"], int(identity.get("channels", 3)))
    with ocp.StandardCheckpointer() as checkpointer:
        variables = checkpointer.restore(os.path.join(directory, VARIABLES_DIR), target)
    return model, dict(variables)
