"""Token-mixing weights as pictures on the patch grid (MLP-Mixer paper, Fig. 4).

Found by parameter path, whatever the model is called: an MLP token mixer's first layer
``blocks_i/mixer/mlp/fc1/kernel [N, tokens_mlp_dim]`` (MLP-Mixer) or a linear one
``blocks_i/mixer/linear/kernel [N, N]`` (ResMLP's cross-patch layer). Scanned blocks keep
them stacked under ``blocks`` with a leading depth axis.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any

import numpy as np

KERNEL_PATHS = {
    ("mlp", "fc1", "kernel"): "token-mixing MLP fc1",
    ("linear", "kernel"): "cross-patch linear",
}


@dataclasses.dataclass(frozen=True)
class TokenMixingKernel:
    """block: block index; kernel: float32 ``[N, units]`` (input patch, hidden unit);
    kind: which layer it is, in words."""

    block: int
    kernel: np.ndarray
    kind: str


def _lookup(tree: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(tree, Mapping) or key not in tree:
            return None
        tree = tree[key]
    return tree


def token_mixing_kernels(params: Mapping[str, Any], num_patches: int) -> list[TokenMixingKernel]:
    """Every block's token-mixing kernel whose input axis has ``num_patches`` rows, in
    block order; empty when the model has none."""
    found = []
    for name, block in params.items():
        match = re.fullmatch(r"blocks(?:_(\d+))?", str(name))
        mixer = block.get("mixer") if match and isinstance(block, Mapping) else None
        for path, kind in KERNEL_PATHS.items():
            kernel = _lookup(mixer, path)
            if kernel is None:
                continue
            kernel = np.asarray(kernel, np.float32)
            stacked = kernel[None] if match.group(1) is not None else kernel  # [depth, N, U]
            first = int(match.group(1) or 0)
            for offset, layer in enumerate(stacked):
                if layer.ndim == 2 and layer.shape[0] == num_patches:
                    found.append(TokenMixingKernel(first + offset, layer, kind))
    return sorted(found, key=lambda k: k.block)


def token_mixing_grid(kernel: np.ndarray, grid: tuple[int, int], units: int) -> np.ndarray:
    """The first ``units`` hidden units' weights as patch-grid images:
    kernel ``[N, U]`` -> ``[min(units, U), grid[0], grid[1]]``, image u = column u
    reshaped row-major (N = grid[0] * grid[1])."""
    count = min(units, kernel.shape[1])
    return np.ascontiguousarray(kernel[:, :count].T).reshape(count, *grid)
