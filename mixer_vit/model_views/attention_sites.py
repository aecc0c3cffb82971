"""The attention weights a model sowed, one entry per attention layer, in depth order.

Reads ``state["intermediates"]`` of ``model.apply(..., mutable=["intermediates"])``
(docs/research_api.md): every ``.../attention_weights`` entry of shape ``[B, H, Q, K]``.
Self-attention blocks (ViT, DeiT, CaiT's talking-heads blocks) give ``Q = K = N``; CaiT's
class-attention blocks give ``Q = 1, K = 1 + N``. Blocks run with ``scan_blocks`` sow one
stacked ``[depth, B, H, N, N]`` entry under ``blocks``, split here into one per block.
Windowed attention (Swin, ``[B, windows, H, T, T]`` per window) has no per-image map and is
left out.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any

import numpy as np


@dataclasses.dataclass(frozen=True)
class AttentionSite:
    """One attention layer: name (its module path, e.g. ``blocks_3/mixer`` or
    ``cls_blocks_0/attn``) and weights float32 ``[B, H, Q, K]`` (query rows, key columns)."""

    name: str
    weights: np.ndarray

    @property
    def is_self_attention(self) -> bool:
        """Queries and keys are the same tokens (Q == K)."""
        return self.weights.shape[2] == self.weights.shape[3]


def _natural_key(path: tuple[str, ...]) -> tuple:
    """Blocks before class-attention blocks, then by block number (blocks_10 after blocks_2)."""
    first = path[0]
    parts = [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", first)]
    return (first.startswith("cls_"), parts, path)


def _walk(tree: Mapping[str, Any], path: tuple[str, ...] = ()):
    for key, value in tree.items():
        if isinstance(value, Mapping):
            yield from _walk(value, (*path, str(key)))
        else:
            yield (*path, str(key)), value


def attention_sites(intermediates: Mapping[str, Any]) -> list[AttentionSite]:
    """``state["intermediates"]`` -> the attention layers, ordered as the model runs them."""
    found = []
    for path, value in _walk(intermediates):
        if path[-1] != "attention_weights":
            continue
        weights = np.asarray(value[0] if isinstance(value, tuple) else value, np.float32)
        name = "/".join(path[:-1])
        if weights.ndim == 5 and path[0] == "blocks":  # scanned: [depth, B, H, N, N]
            for i, layer in enumerate(weights):
                block_path = (f"blocks_{i}", *path[1:])
                found.append((block_path, AttentionSite("/".join(block_path[:-1]), layer)))
        elif weights.ndim == 4:
            found.append((path, AttentionSite(name, weights)))
    return [site for _, site in sorted(found, key=lambda item: _natural_key(item[0]))]
