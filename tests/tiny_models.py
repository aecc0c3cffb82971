"""Tiny configurations of each model family, with random (non-zero) parameters, shared by
the kernel-switch and forward-mode tests."""

from __future__ import annotations

import jax
import numpy as np

from mixer_vit.models import create_model

IMAGE_SIZE = 16
"""Side of the test images (a 4x4 patch grid at patch size 4)."""

_PATCHES = dict(patch_size=4, embed_dim=16)
TINY = {
    "vit": ("vit_ti16", dict(_PATCHES, depth=2, mixer_kwargs={"num_heads": 2})),
    "mixer": ("mixer_s16", dict(_PATCHES, depth=2, mixer_kwargs={"tokens_mlp_dim": 8})),
    "resmlp": ("resmlp_12", dict(_PATCHES, depth=2)),
    "poolformer": ("poolformer_s12", dict(depths=(1, 1), dims=(8, 16))),
    "swin": (
        "swin_t",
        dict(patch_size=2, embed_dim=16, depths=(2, 1), num_heads=(2, 2), window_size=4),
    ),
    "cait": ("cait_xxs24", dict(_PATCHES, depth=1, num_heads=2, depth_token_only=1)),
}


def tiny_model(family: str, **overrides):
    """The tiny model of ``family`` (a key of :data:`TINY`) with 5 classes."""
    name, fields = TINY[family]
    return create_model(name, **fields, num_classes=5, **overrides)


def images(batch: int = 2, seed: int = 0) -> np.ndarray:
    """``[batch, 16, 16, 3]`` float32 normal images."""
    rng = np.random.default_rng(seed)
    return rng.normal(size=(batch, IMAGE_SIZE, IMAGE_SIZE, 3)).astype(np.float32)


def random_variables(model, x) -> dict:
    """``model.init`` variables with every parameter moved by 0.1 * N(0, 1) (nothing zero,
    so no gradient or tangent vanishes)."""
    variables = model.init(jax.random.PRNGKey(0), x)
    leaves, tree = jax.tree.flatten(variables["params"])
    keys = jax.random.split(jax.random.PRNGKey(1), len(leaves))
    moved = [p + 0.1 * jax.random.normal(k, p.shape) for p, k in zip(leaves, keys)]
    return {**variables, "params": jax.tree.unflatten(tree, moved)}
