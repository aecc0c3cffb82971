"""What a model offers to look at: its sown attention weights, learned position embedding
and token-mixing weights, found by what the variables and intermediates hold (not by the
model's name)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import flax.linen as nn
import jax
import numpy as np

from mixer_vit.errors import UserError

from .attention_sites import AttentionSite, attention_sites
from .token_layout import patch_grid
from .token_mixing import TokenMixingKernel, token_mixing_kernels

SUPPORTED = (
    "ViT, DeiT and CaiT (attention maps, attention rollout, position-embedding similarity) "
    "and MLP-Mixer / ResMLP (token-mixing weights)"
)


@dataclasses.dataclass(frozen=True)
class ModelProbe:
    """grid: (rows, columns) of patches; sites: the attention layers, weights
    ``[B, H, Q, K]`` for the probed images (empty without attention); mixing: the
    token-mixing kernels ``[N, units]``; pos_embed: the learned table ``[1, P + N, D]`` or
    None; logits: ``[B, num_classes]`` for the probed images."""

    grid: tuple[int, int]
    sites: list[AttentionSite]
    mixing: list[TokenMixingKernel]
    pos_embed: np.ndarray | None
    logits: np.ndarray

    @property
    def has_anything(self) -> bool:
        return bool(self.sites or self.mixing or self.pos_embed is not None)


def unsupported_message(model: nn.Module) -> str:
    return (
        f"{type(model).__name__} has no attention weights, learned position embedding or "
        f"token-mixing weights to show; `show` supports {SUPPORTED}"
    )


def probe_model(
    model: nn.Module, variables: Mapping[str, Any], images: np.ndarray
) -> ModelProbe:
    """Runs ``model`` (``train=False``) on ``images`` float32 ``[B, H, W, C]``
    (preprocessed) collecting its intermediates; ``UserError`` when the model has nothing
    `show` can draw."""
    params = variables["params"]
    grid = patch_grid(params, images.shape[1:])
    if grid is None:
        raise UserError(unsupported_message(model))
    patches = grid[0] * grid[1]
    logits, state = model.apply(variables, images, train=False, mutable=["intermediates"])
    sites = [
        site
        for site in attention_sites(jax.device_get(state.get("intermediates", {})))
        if site.weights.shape[3] >= patches
    ]
    pos_embed = params.get("pos_embed")
    if pos_embed is not None and (np.ndim(pos_embed) != 3 or pos_embed.shape[1] < patches):
        pos_embed = None
    probe = ModelProbe(
        grid=grid,
        sites=sites,
        mixing=token_mixing_kernels(params, patches),
        pos_embed=None if pos_embed is None else np.asarray(pos_embed, np.float32),
        logits=np.asarray(logits, np.float32),
    )
    if not probe.has_anything:
        raise UserError(unsupported_message(model))
    return probe
