"""All pictures that apply to a model, as figures, PNG bytes or files.

``view_figures(model, variables, images)`` is the core (the training loop can hand its
figures to TensorBoard); ``render_views(trained, images, out_dir)`` writes PNG files for a
trained workdir's model.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from typing import Any

import flax.linen as nn
import numpy as np
from matplotlib.figure import Figure

from mixer_vit.errors import UserError

from . import figures
from .attention_maps import patch_attention_maps, uses_class_query
from .position_similarity import position_embedding_similarity
from .probe import ModelProbe, probe_model
from .rollout import attention_rollout, rollout_patch_map
from .selection import check_indices, default_heads, default_layers
from .token_mixing import token_mixing_grid

DEFAULT_UNITS = 32
DEFAULT_MIXING_BLOCKS = 2


def view_figures(
    model: nn.Module,
    variables: Mapping[str, Any],
    images: np.ndarray | None,
    *,
    image_shape: tuple[int, int, int] | None = None,
    names: Sequence[str] | None = None,
    class_names: Sequence[str] | None = None,
    layers: Sequence[int] | None = None,
    heads: Sequence[int] | None = None,
    units: int = DEFAULT_UNITS,
) -> dict[str, Figure]:
    """Every picture that applies to ``model``, keyed by a file-name stem.

    images: preprocessed float32 ``[B, H, W, C]`` (the model's input), or None for a
    model without attention (then ``image_shape`` (H, W, C) is needed). names: one
    file-name-safe name per image (default ``image0``, ...). class_names: for the
    predicted class in the titles. layers: attention layers (ViT/DeiT/CaiT; default up to
    6 from first to last) or token-mixing blocks (Mixer; default the first 2);
    heads: attention heads (default the first 12); units: token-mixing hidden units
    per block. Bad indices, no images for an attention model, or a model without any
    of these weights raise ``UserError``.

    Keys: ``NAME_attention`` and ``NAME_rollout`` per image (attention models),
    ``token_mixing_block{i}`` per chosen block, ``position_similarity``.
    """
    have_images = images is not None and len(images) > 0
    if not have_images:
        if image_shape is None:
            raise ValueError("view_figures needs images or image_shape")
        images = np.zeros((1, *image_shape), np.float32)
    probe = probe_model(model, variables, np.asarray(images, np.float32))
    if probe.sites and not have_images:
        raise UserError(
            f"{type(model).__name__} has attention maps, which are drawn over images; "
            f"pass --images PATH[,PATH...]"
        )
    if heads is not None and not probe.sites:
        raise UserError(f"--heads applies to attention; {type(model).__name__} has no heads")
    names = list(names) if names is not None else [f"image{i}" for i in range(len(images))]
    if have_images and len(names) != len(images):
        raise ValueError(f"{len(names)} names for {len(images)} images")
    shown: dict[str, Figure] = {}
    if probe.sites:
        shown.update(_attention_figures(probe, images, names, class_names, layers, heads))
    if probe.mixing:
        shown.update(_mixing_figures(probe, None if probe.sites else layers, units))
    if probe.pos_embed is not None:
        similarity = position_embedding_similarity(probe.pos_embed, probe.grid)
        title = (
            f"position embedding: cosine similarity of each patch's embedding with all "
            f"others ({probe.grid[0]}x{probe.grid[1]} patches)"
        )
        shown["position_similarity"] = figures.position_similarity_figure(similarity, title)
    return shown


def _caption(name: str, index: int, probe: ModelProbe, class_names) -> str:
    if class_names is None or probe.logits.ndim != 2:
        return name
    if probe.logits.shape[1] != len(class_names):
        return name
    return f"{name} (predicted {class_names[int(np.argmax(probe.logits[index]))]})"


def _attention_figures(probe, images, names, class_names, layers, heads) -> dict[str, Figure]:
    sites = probe.sites
    num_heads = sites[0].weights.shape[1]
    layers = default_layers(len(sites)) if layers is None else check_indices(
        layers, len(sites), "layers", "attention layers"
    )
    heads = default_heads(num_heads) if heads is None else check_indices(
        heads, num_heads, "heads", "heads"
    )
    maps = {i: patch_attention_maps(sites[i].weights, probe.grid) for i in layers}
    modes = [uses_class_query(*sites[i].weights.shape[2:], probe.grid) for i in layers]
    labels = [
        f"{sites[i].name}\n({'class token' if m else 'mean over queries'})"
        for i, m in zip(layers, modes)
    ]
    what = (
        "class-token attention to the patches"
        if all(modes)
        else "mean attention each patch receives"
        if not any(modes)
        else "attention to the patches"
    )
    chain = [s.weights for s in sites if s.is_self_attention]
    chain = [w for w in chain if w.shape[-1] == chain[0].shape[-1]] if chain else []
    rollout_maps = rollout_patch_map(attention_rollout(chain), probe.grid) if chain else None
    with_class = bool(chain) and chain[0].shape[-1] > probe.grid[0] * probe.grid[1]
    shown = {}
    for b, name in enumerate(names):
        caption = _caption(name, b, probe, class_names)
        panels = np.stack([maps[i][b, heads] for i in layers])  # [layers, heads, gh, gw]
        shown[f"{name}_attention"] = figures.attention_maps_figure(
            images[b], panels, labels, heads, f"{caption}: {what}"
        )
        if rollout_maps is not None:
            title = (
                f"{caption}: attention rollout through {len(chain)} layers "
                f"({'class token' if with_class else 'mean over tokens'})"
            )
            shown[f"{name}_rollout"] = figures.rollout_figure(images[b], rollout_maps[b], title)
    return shown


def _mixing_figures(probe, layers, units: int) -> dict[str, Figure]:
    if units < 1:
        raise UserError(f"--units must be >= 1, got {units}")
    kernels = probe.mixing
    chosen = (
        list(range(min(DEFAULT_MIXING_BLOCKS, len(kernels))))
        if layers is None
        else check_indices(layers, len(kernels), "layers", "token-mixing blocks")
    )
    shown = {}
    for i in chosen:
        grids = token_mixing_grid(kernels[i].kernel, probe.grid, units)
        title = (
            f"block {kernels[i].block}: {kernels[i].kind} weights of the first "
            f"{grids.shape[0]} hidden units over the {probe.grid[0]}x{probe.grid[1]} patches"
        )
        shown[f"token_mixing_block{kernels[i].block}"] = figures.token_mixing_figure(grids, title)
    return shown


def view_pngs(model, variables, images, **options) -> dict[str, bytes]:
    """:func:`view_figures` as PNG files' bytes, keyed ``STEM.png``."""
    return {
        f"{stem}.png": figures.figure_png(figure)
        for stem, figure in view_figures(model, variables, images, **options).items()
    }


def file_stems(paths: Sequence[str]) -> list[str]:
    """A distinct, file-name-safe name per image path (its stem; ``_2``, ``_3``, ... on
    repeats)."""
    stems, seen = [], {}
    for path in paths:
        stem = re.sub(r"[^\w.-]", "_", os.path.splitext(os.path.basename(path))[0]) or "image"
        seen[stem] = seen.get(stem, 0) + 1
        stems.append(stem if seen[stem] == 1 else f"{stem}_{seen[stem]}")
    return stems


def render_views(
    trained,
    images: np.ndarray | None,
    out_dir: str,
    *,
    names: Sequence[str] | None = None,
    layers: Sequence[int] | None = None,
    heads: Sequence[int] | None = None,
    units: int = DEFAULT_UNITS,
) -> list[str]:
    """Writes the PNGs of :func:`view_figures` for a ``TrainedModel`` (from
    ``mixer_vit.train.trained_model.load_trained_model``) into ``out_dir`` (created);
    images: preprocessed float32 ``[B, H, W, C]`` or None. Returns the written paths."""
    pngs = view_pngs(
        trained.model,
        trained.variables,
        images,
        image_shape=tuple(trained.image_shape),
        names=names,
        class_names=trained.class_names,
        layers=layers,
        heads=heads,
        units=units,
    )
    os.makedirs(out_dir, exist_ok=True)
    paths = []
    for filename, png in pngs.items():
        path = os.path.join(out_dir, filename)
        with open(path, "wb") as f:
            f.write(png)
        paths.append(path)
    return paths
