"""The model a run trains: the registered model of ``config.model`` with its overrides,
in the compute dtype and layer kernels the config names, with its inference head, and as
a distillation student when a teacher is configured.
"""

from __future__ import annotations

import flax.linen as nn
import jax.numpy as jnp
import ml_collections

from mixer_vit.errors import UserError
from mixer_vit.models import create_model
from mixer_vit.train.inference_head import with_inference_head
from mixer_vit.train.kernels_switch import apply_kernels
from mixer_vit.train.population_plan import POPULATION_AUTO_KERNELS, population_size

# Compute dtypes of ``model.dtype``; parameters stay float32 whatever is chosen.
COMPUTE_DTYPES = ("float32", "bfloat16", "float16")
# Model settings that change how it computes, not its parameters (not part of its identity).
COMPUTE_SETTINGS = ("dtype", "kernels")


def compute_dtype(config: ml_collections.ConfigDict):
    """``model.dtype`` as a jnp dtype; float32 for configs written before it existed."""
    name = config.model.get("dtype", "float32") or "float32"
    if name not in COMPUTE_DTYPES:
        raise UserError(
            f"model.dtype must be one of {', '.join(COMPUTE_DTYPES)}, got {name!r}"
        )
    if "dtype" in config.model.overrides and str(config.model.overrides.dtype) != name:
        raise UserError(
            "set the compute dtype with --config.model.dtype, not model.overrides.dtype"
        )
    return jnp.dtype(name)


def build_model(config: ml_collections.ConfigDict, num_classes: int) -> nn.Module:
    """The configured model: ``model.name`` with its overrides, ``num_classes`` outputs
    unless overridden, computing in ``model.dtype`` with the layer kernels of
    ``model.kernels`` (parameters float32; ``auto`` is ``reference`` for a population,
    see ``POPULATION_AUTO_KERNELS``), predicting with ``model.inference_head``."""
    kernels = config.model.get("kernels", "auto") or "auto"
    if kernels == "auto" and population_size(config):
        kernels = POPULATION_AUTO_KERNELS  # the CPU-tuned kernels lose under vmap
    apply_kernels(kernels)
    overrides = dict(config.model.overrides.to_dict())
    overrides.setdefault("num_classes", num_classes)
    overrides["dtype"] = compute_dtype(config)
    try:
        model = create_model(config.model.name, **overrides)
    except ValueError as error:
        raise UserError(str(error)) from None
    return with_inference_head(model, config)


def for_distillation(model: nn.Module, name: str, distillation: str) -> nn.Module:
    """A student with a distillation token returns both heads while training with a teacher
    (DeiT); a student without one learns both targets through its one head (DeiT Table 3's
    "hard" and "soft" rows without a distillation token)."""
    del name
    if distillation != "none" and hasattr(model, "distilled_training"):
        return model.clone(distilled_training=True)
    return model
