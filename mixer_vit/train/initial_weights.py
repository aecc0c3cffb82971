"""Starting a run from converted weights: ``model.init_from=DIR`` (a ``mixer-vit convert``
output) replaces the freshly initialised parameters and BatchNorm statistics before the
first step, e.g. to fine-tune an official ImageNet-21k ViT on CIFAR-10.

The directory must hold the run's model: the same registry name, the same parameter
shapes (so the same ``--image_size`` and ``--num_classes`` at conversion) and the same
values of the architecture fields it was converted with. Anything else is a one-line
``UserError`` naming the difference and the fix, raised before the first step.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

import flax
import flax.linen as nn
import jax
import numpy as np

from mixer_vit.convert.save_load import MODEL_FILE, load_converted
from mixer_vit.errors import UserError
from mixer_vit.models import create_model
from mixer_vit.train.state import TrainState

SHOWN = 3  # mismatching names shown in an error
# The config keys (under ``model``) of this module: where a run's first weights come from,
# not what shapes its parameters have.
INITIAL_WEIGHTS_KEYS = ("init_from", "init_fresh")


def check_converted_identity(
    identity: dict[str, Any], model_name: str, model: nn.Module, image_size: int
) -> None:
    """``identity``: the directory's ``model.json``. Raises ``UserError`` unless it was
    converted for ``model_name`` at ``image_size`` with architecture overrides ``model``
    agrees with."""
    if identity["model"] != model_name:
        raise UserError(
            f"model.init_from holds {identity['model']} weights but the run trains "
            f"{model_name}; set --config.model.name={identity['model']} or convert for "
            f"{model_name}"
        )
    if int(identity["image_size"]) != image_size:
        raise UserError(
            f"model.init_from was converted at {identity['image_size']}px but the run's "
            f"images are {image_size}px; convert again with --image_size {image_size}"
        )
    # The class count only shapes the head: the parameter check (which ``init_fresh`` can
    # relax for the head) judges it.
    overrides = {k: v for k, v in identity.get("overrides", {}).items() if k != "num_classes"}
    converted = create_model(model_name, **overrides)  # fields normalised as the run's are
    for key, value in overrides.items():
        if getattr(model, key) != getattr(converted, key):
            ours = getattr(model, key)
            raise UserError(
                f"model.init_from was converted with {key}={value!r} but the run's model "
                f"has {key}={ours!r}; set --config.model.overrides.{key}={value}"
            )


def _replace_leaves(ours: Any, theirs: Any, what: str, fresh: str = "") -> Any:
    """``theirs``' values in ``ours``' tree, dtypes and placement; names and shapes must
    agree exactly, except for the names the regex ``fresh`` matches, which keep ours."""
    try:
        keep = re.compile(fresh) if fresh else None
    except re.error as error:
        raise UserError(f"model.init_fresh {fresh!r} is not a valid regex: {error}") from None

    def flat(tree):
        names = flax.traverse_util.flatten_dict(flax.core.unfreeze(tree), sep="/")
        return {k: v for k, v in names.items() if not (keep and keep.search(k))}

    everything = flax.traverse_util.flatten_dict(flax.core.unfreeze(ours), sep="/")
    flat_ours, flat_theirs = flat(ours), flat(theirs)
    missing = sorted(set(flat_ours) - set(flat_theirs))
    unexpected = sorted(set(flat_theirs) - set(flat_ours))
    shapes = sorted(
        f"{name} {tuple(flat_theirs[name].shape)} (run: {tuple(flat_ours[name].shape)})"
        for name in set(flat_ours) & set(flat_theirs)
        if tuple(flat_ours[name].shape) != tuple(flat_theirs[name].shape)
    )
    problems = [
        f"{label}: {', '.join(names[:SHOWN])}{' ...' if len(names) > SHOWN else ''}"
        for label, names in (("missing", missing), ("unexpected", unexpected), ("shape", shapes))
        if names
    ]
    if problems:
        raise UserError(
            f"model.init_from {what} do not fit the run's model ({'; '.join(problems)}); "
            f"convert with the run's --model, --image_size and --num_classes, or keep "
            f"parameters fresh with --config.model.init_fresh (e.g. '^head/')"
        )
    placed = dict(everything)
    for name, leaf in flat_ours.items():
        value = np.asarray(flat_theirs[name], dtype=leaf.dtype)
        placed[name] = jax.device_put(value, leaf.sharding)
    return flax.traverse_util.unflatten_dict(placed, sep="/")


def with_initial_weights(
    state: TrainState,
    directory: str,
    model_name: str,
    model: nn.Module,
    image_size: int,
    fresh: str = "",
) -> TrainState:
    """``state`` with its parameters (and EMA copy) and BatchNorm statistics read from the
    converted ``directory``; the optimizer state and step are the fresh ones. Parameters
    whose name the regex ``fresh`` matches (e.g. ``"^head/"``: a classifier for another
    class count) keep their fresh initialisation and may differ in shape."""
    meta_path = os.path.join(os.path.abspath(directory), MODEL_FILE)
    if not os.path.isfile(meta_path):
        raise UserError(
            f"model.init_from={directory} holds no converted weights (no {MODEL_FILE}); "
            f"write it with `mixer-vit convert ... --out {directory}`"
        )
    with open(meta_path) as f:
        check_converted_identity(json.load(f), model_name, model, image_size)
    _, variables = load_converted(directory)
    params = _replace_leaves(state.params, variables["params"], "parameters", fresh)
    model_state = dict(state.model_state)
    if "batch_stats" in model_state:
        model_state["batch_stats"] = _replace_leaves(
            model_state["batch_stats"],
            variables.get("batch_stats", {}),
            "BatchNorm statistics",
            fresh,
        )
    ema = None
    if state.ema_params is not None:
        ema = _replace_leaves(state.ema_params, variables["params"], "parameters", fresh)
    return state.replace(params=params, model_state=model_state, ema_params=ema)
