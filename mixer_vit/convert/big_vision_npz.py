"""Official Flax checkpoints (.npz) of ViT and MLP-Mixer into our MetaFormer trees.

Two namings are read (keys are ``/``-joined paths, as both projects save them):

* big_vision (current)::

    embedding/{kernel [p,p,C,D], bias}      cls [1,1,D]
    Transformer/posembed_input/pos_embedding [1, N, D]   (no class slot: big_vision adds it
                                                         before prepending the class token)
    Transformer/encoderblock_{i}/LayerNorm_0, LayerNorm_1
    Transformer/encoderblock_{i}/MultiHeadDotProductAttention_0/{query,key,value}/
        {kernel [D, heads, hd], bias [heads, hd]}, out/{kernel [heads, hd, D], bias [D]}
    Transformer/encoderblock_{i}/MlpBlock_0/{Dense_0, Dense_1}
    Transformer/encoder_norm    head
    (a scanned big_vision model stores Transformer/encoderblock/... with a leading depth
    axis; it is unstacked first)

* vit_jax (pre-linen, google-research/vision_transformer): the same, but the block's
  submodules are LayerNorm_0, MultiHeadDotProductAttention_1, LayerNorm_2, MlpBlock_3,
  and ``pos_embedding`` is [1, 1 + N, D] (it covers the class token).

* MLP-Mixer (both projects)::

    stem/{kernel, bias}
    MixerBlock_{i}/LayerNorm_0, token_mixing/{Dense_0, Dense_1}, LayerNorm_1,
        channel_mixing/{Dense_0, Dense_1}
    pre_head_layer_norm    head

Targets (see ``models/metaformer.py``): ``patch_embed/proj``, ``cls_token``, ``pos_embed``
[1, 1 + N, D] covering the class token (a big_vision embedding gets a zero class row,
which is the same function), ``blocks_i/{norm1, mixer, norm2, mlp/fc1, mlp/fc2}`` with
the fused ``mixer/qkv`` [D, 3D] ordered (q|k|v, heads, head_dim) and ``mixer/proj``,
``norm``, ``head``. A position embedding for another patch grid is resampled
(bilinear). Keys that map nowhere (e.g. vit_jax's ``pre_logits``) are reported.

The official code computes its MLPs with flax's ``nn.gelu``, the tanh approximation, so
the model is built with :data:`OFFICIAL_OVERRIDES` (``gelu="tanh"``; an explicit
``gelu`` override wins). With it, converted logits match the official code's to float32
rounding; with the exact GELU they are ~1e-4 off (tests/test_big_vision_parity.py).
"""

from __future__ import annotations

import math
import re
from typing import Any, Callable, Mapping

import flax.linen as nn
import numpy as np

from mixer_vit.convert.timm_registry import abstract_variables
from mixer_vit.convert.tree_assign import ConversionError, assign_flat, flatten, unflatten
from mixer_vit.layers.position_embeddings import resample_pos_embed
from mixer_vit.models import create_model, model_default_image_size
from mixer_vit.models.block_stacking import stack_block_params

Weights = Mapping[str, np.ndarray]

OFFICIAL_OVERRIDES = {"gelu": "tanh"}
"""Model fields every official ViT / Mixer checkpoint needs (recorded with a converted
directory by ``mixer-vit convert``, so loading it rebuilds the same model)."""


def _unstack_scanned_encoder(weights: Weights) -> dict[str, np.ndarray]:
    """``Transformer/encoderblock/X [depth, ...]`` -> ``Transformer/encoderblock_{i}/X``."""
    out = {}
    for key, value in weights.items():
        if key.startswith("Transformer/encoderblock/"):
            rest = key[len("Transformer/encoderblock/") :]
            for i in range(np.shape(value)[0]):
                out[f"Transformer/encoderblock_{i}/{rest}"] = value[i]
        else:
            out[key] = value
    return out


def _pos_embed(value: np.ndarray, target_shape: tuple[int, ...], num_prefix: int) -> np.ndarray:
    """Checkpoint pos embedding [1, L, D] (with or without a class row) -> [1, P + N, D]."""
    length, dim = value.shape[1], value.shape[2]
    side = math.isqrt(length)
    if side * side == length:  # big_vision: patch rows only
        prefix, patches = np.zeros((1, 0, dim), np.float32), value
    elif math.isqrt(length - 1) ** 2 == length - 1:  # vit_jax: a class row first
        prefix, patches = value[:, :1], value[:, 1:]
        side = math.isqrt(length - 1)
    else:
        raise ConversionError(
            f"position embedding with {length} rows is neither a square patch grid nor "
            "one class row plus a square grid"
        )
    target_side = math.isqrt(target_shape[1] - num_prefix)
    patches = resample_pos_embed(patches, (side, side), (target_side,) * 2, 0, method="bilinear")
    if num_prefix == 0:
        return patches
    if prefix.shape[1] == 0:  # big_vision: the class token had no position embedding
        prefix = np.zeros((1, num_prefix, dim), np.float32)
    return np.concatenate([prefix, patches], axis=1)


def _vit_block(src: str, dst: str, weights: Weights, old: bool) -> dict[str, np.ndarray]:
    attn = f"{src}/MultiHeadDotProductAttention_{1 if old else 0}"
    ln2, mlp = (2, 3) if old else (1, 0)
    ln2, mlp = f"{src}/LayerNorm_{ln2}", f"{src}/MlpBlock_{mlp}"
    out = {}
    for ours, theirs in (("norm1", f"{src}/LayerNorm_0"), ("norm2", ln2)):
        for leaf in ("scale", "bias"):
            out[f"{dst}/{ours}/{leaf}"] = weights.get(f"{theirs}/{leaf}")
    q, k, v = (f"{attn}/{n}" for n in ("query", "key", "value"))
    kernels = [weights.get(f"{n}/kernel") for n in (q, k, v)]
    if all(x is not None for x in kernels):  # [D, heads, hd] -> [D, 3 * heads * hd]
        out[f"{dst}/mixer/qkv/kernel"] = np.concatenate(
            [x.reshape(x.shape[0], -1) for x in kernels], axis=1
        )
    biases = [weights.get(f"{n}/bias") for n in (q, k, v)]
    if all(x is not None for x in biases):
        out[f"{dst}/mixer/qkv/bias"] = np.concatenate([x.reshape(-1) for x in biases])
    proj = weights.get(f"{attn}/out/kernel")  # [heads, hd, D] -> [D, D]
    if proj is not None:
        out[f"{dst}/mixer/proj/kernel"] = proj.reshape(-1, proj.shape[-1])
    out[f"{dst}/mixer/proj/bias"] = weights.get(f"{attn}/out/bias")
    for i, fc in ((0, "fc1"), (1, "fc2")):
        for leaf in ("kernel", "bias"):
            out[f"{dst}/mlp/{fc}/{leaf}"] = weights.get(f"{mlp}/Dense_{i}/{leaf}")
    return out


def _mixer_block(src: str, dst: str, weights: Weights) -> dict[str, np.ndarray]:
    out = {}
    for ours, theirs in (
        ("norm1", "LayerNorm_0"),
        ("norm2", "LayerNorm_1"),
        ("mixer/mlp/fc1", "token_mixing/Dense_0"),
        ("mixer/mlp/fc2", "token_mixing/Dense_1"),
        ("mlp/fc1", "channel_mixing/Dense_0"),
        ("mlp/fc2", "channel_mixing/Dense_1"),
    ):
        for leaf in ("scale", "bias") if ours.startswith("norm") else ("kernel", "bias"):
            out[f"{dst}/{ours}/{leaf}"] = weights.get(f"{src}/{theirs}/{leaf}")
    return out


def _convert(
    weights: Weights,
    block_pattern: str,
    block_fn: Callable[[str, str], dict[str, np.ndarray]],
    renames: dict[str, str],
) -> dict[str, np.ndarray]:
    """Our flat dict (paths below ``params``) from renamed leaves and per-block maps."""
    out: dict[str, Any] = {}
    for theirs, ours in renames.items():
        for leaf in ("kernel", "bias", "scale"):
            if f"{theirs}/{leaf}" in weights:
                out[f"{ours}/{leaf}"] = weights[f"{theirs}/{leaf}"]
    blocks = sorted({int(m.group(1)) for k in weights if (m := re.match(block_pattern, k))})
    for i in blocks:
        src = block_pattern.replace(r"(\d+)", str(i)).rstrip("/")
        out.update(block_fn(src, f"blocks_{i}"))
    return {k: v for k, v in out.items() if v is not None}


def big_vision_to_flat(weights: Weights, model: nn.Module, template: Any) -> dict[str, Any]:
    """Flat ``{"params/...": array}`` for ``model`` (a ViT- or Mixer-style MetaFormer) from
    an official checkpoint's ``{path: array}``; unknown checkpoint keys are kept (prefixed
    ``checkpoint:``) so that ``assign_flat`` reports them as unexpected."""
    weights = _unstack_scanned_encoder(weights)
    mixer = getattr(model, "mixer", None)
    if mixer == "attention":
        old = any("/MlpBlock_3/" in k for k in weights)
        pattern = r"Transformer/encoderblock_(\d+)/"
        renames = {"embedding": "patch_embed/proj", "Transformer/encoder_norm": "norm"}
        flat = _convert(weights, pattern, lambda s, d: _vit_block(s, d, weights, old), renames)
        if "cls" in weights:
            flat["cls_token"] = weights["cls"]
        pos_key = "Transformer/posembed_input/pos_embedding"
        wanted = flatten(template["params"])
        if pos_key in weights and "pos_embed" in wanted:
            num_prefix = 1 if getattr(model, "use_class_token", False) else 0
            flat["pos_embed"] = _pos_embed(
                np.asarray(weights[pos_key], np.float32), wanted["pos_embed"].shape, num_prefix
            )
        elif pos_key in weights:
            flat["unused:" + pos_key] = weights[pos_key]
    elif mixer == "mlp":
        pattern = r"MixerBlock_(\d+)/"
        renames = {"stem": "patch_embed/proj", "pre_head_layer_norm": "norm"}
        flat = _convert(weights, pattern, lambda s, d: _mixer_block(s, d, weights), renames)
    else:
        raise ConversionError(
            f"official .npz checkpoints exist for ViT and MLP-Mixer only; this model's "
            f"token mixer is {mixer!r}"
        )
    for leaf in ("kernel", "bias"):
        if f"head/{leaf}" in weights:
            flat[f"head/{leaf}"] = weights[f"head/{leaf}"]
    if getattr(model, "scan_blocks", False):  # the model keeps blocks stacked
        flat = flatten(stack_block_params(unflatten(flat)))
    flat = {f"params/{k}": np.asarray(v) for k, v in flat.items()}
    used = _used_keys(weights, mixer)
    for key in weights:
        if key not in used:
            flat[f"checkpoint:{key}"] = weights[key]
    return flat


def _used_keys(weights: Weights, mixer: str) -> set[str]:
    """The checkpoint keys the mapping reads (everything else is reported)."""
    if mixer == "attention":
        known = re.compile(
            r"(embedding/(kernel|bias)|cls|head/(kernel|bias)|"
            r"Transformer/(posembed_input/pos_embedding|encoder_norm/(scale|bias)|"
            r"encoderblock_\d+/(LayerNorm_[012]/(scale|bias)|"
            r"MultiHeadDotProductAttention_[01]/(query|key|value|out)/(kernel|bias)|"
            r"MlpBlock_[03]/Dense_[01]/(kernel|bias))))"
        )
    else:
        known = re.compile(
            r"(stem/(kernel|bias)|head/(kernel|bias)|pre_head_layer_norm/(scale|bias)|"
            r"MixerBlock_\d+/(LayerNorm_[01]/(scale|bias)|"
            r"(token|channel)_mixing/Dense_[01]/(kernel|bias)))"
        )
    return {k for k in weights if known.fullmatch(k)}


def convert_big_vision(
    our_name: str,
    weights: Weights,
    image_size: int | None = None,
    **overrides: Any,
) -> tuple[nn.Module, dict[str, Any]]:
    """Builds ``our_name`` (with ``overrides``) and fills it from an official ViT / Mixer
    checkpoint (big_vision or vit_jax naming, ``{path: array}`` as read from the .npz).

    Returns:
      (model, variables) for ``model.apply(variables, images [B, S, S, C])`` with S =
      ``image_size`` (default: the model's); the position embedding is resampled
      (bilinear) when the checkpoint's patch grid differs. The model has
      :data:`OFFICIAL_OVERRIDES` under ``overrides``.
    Raises:
      ConversionError: one line naming missing, unexpected and mis-shaped keys.
    """
    model = create_model(our_name, **{**OFFICIAL_OVERRIDES, **overrides})
    template = abstract_variables(model, image_size or model_default_image_size(our_name))
    return model, assign_flat(template, big_vision_to_flat(weights, model, template))
