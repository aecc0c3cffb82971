"""Running a MetaFormer's identical blocks: a Python loop, ``nn.scan``, ``nn.remat``.

Two parameter layouts hold the same weights (any collection: ``params``, ``batch_stats``):

* per-block (the default, and the layout of every converter)::

      blocks_0/norm1/scale [D], ..., blocks_{d-1}/mlp/fc2/kernel [4D, D]

* stacked (``scan_blocks=True``): one subtree ``blocks`` whose leaves gain a leading depth
  axis::

      blocks/norm1/scale [d, D], ..., blocks/mlp/fc2/kernel [d, 4D, D]

``stack_block_params`` / ``unstack_block_params`` convert between them, so weights
converted from timm or big_vision, and checkpoints of either kind, load into both.

Under scan the stochastic-depth rate of block ``i`` (the linear rule) is a scanned input,
and the ``params`` / ``dropout`` rngs are split per block.

Grouped inference (``image_group``): each block runs over groups of a few images, one
group at a time (a lifted ``nn.scan`` over the groups with the block's variables shared),
so the block's activations for a group stay in cache
(``mixer_vit.layers.image_groups``). Same parameters and, per image, the same arithmetic.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from mixer_vit.layers.image_groups import collect_images, deal_images, loops_allowed
from mixer_vit.layers.low_precision_dot import LOW_PRECISION

BLOCK_PREFIX = "blocks"
REMAT_POLICIES = (
    "nothing_saveable",
    "everything_saveable",
    "dots_saveable",
    "dots_with_no_batch_dims_saveable",
)


def check_remat_policy(policy: str) -> None:
    """One-line ``ValueError`` unless ``policy`` names one of ``REMAT_POLICIES``."""
    if policy not in REMAT_POLICIES:
        raise ValueError(
            f"remat_policy must be one of {', '.join(REMAT_POLICIES)}, got '{policy}'."
        )


def apply_blocks(
    make_block: Callable[[float, str], nn.Module],
    x: jax.Array,
    rates: Sequence[float],
    *,
    deterministic: bool,
    grid: tuple[int, int] | None,
    scan: bool = False,
    remat: bool = False,
    remat_policy: str = "nothing_saveable",
    image_group: int = 0,
) -> jax.Array:
    """Runs ``len(rates)`` blocks on ``x [B, N, D]`` and returns ``[B, N, D]``.

    Must be called inside a compact method (the blocks become its submodules).

    Args:
      make_block: ``make_block(drop_path_rate, name) -> Module`` called as
        ``block(x, deterministic=, grid=, drop_path_rate=None | traced scalar)``.
      rates: the per-block stochastic-depth rates.
      scan: one ``nn.scan`` over a single block definition (parameters stacked under
        ``blocks``, see the module docstring) instead of ``blocks_0 .. blocks_{d-1}``.
      remat: recompute each block's activations in the backward pass
        (``nn.remat`` with ``jax.checkpoint_policies.<remat_policy>``).
      image_group: when ``deterministic``, run each block over groups of this many
        images, one group at a time (0, or the whole batch: no grouping). Must divide B,
        and must be 0 while the parameters are initialised (the caller's
        ``is_initializing()``): the grouped loop only reads existing parameters.
    """

    def body(block: nn.Module, y: jax.Array, rate: jax.Array | None) -> jax.Array:
        return block(y, deterministic=deterministic, grid=grid, drop_path_rate=rate)

    if remat:
        check_remat_policy(remat_policy)
        policy = getattr(jax.checkpoint_policies, remat_policy)
        body = nn.remat(body, policy=policy, prevent_cse=not scan)
    if deterministic and 0 < image_group < x.shape[0] and loops_allowed():
        # Deal the images into groups once; every block keeps that layout.
        groups = _check_image_group(x.shape[0], image_group)
        body = _grouped(body, groups)
        dealt = _run_blocks(make_block, body, deal_images(x, groups), rates, deterministic, scan)
        return collect_images(dealt)
    return _run_blocks(make_block, body, x, rates, deterministic, scan)


def _run_blocks(
    make_block: Callable[[float, str], nn.Module],
    body: Callable,
    x: jax.Array,
    rates: Sequence[float],
    deterministic: bool,
    scan: bool,
) -> jax.Array:
    """``body(block_i, x, rate)`` for each block, unrolled or as one ``nn.scan``."""
    if not scan:
        for i, rate in enumerate(rates):
            x = body(make_block(rate, f"{BLOCK_PREFIX}_{i}"), x, None)
        return x

    # Rates all zero: keep drop path static (no rng needed, nothing drawn).
    dynamic = any(r > 0 for r in rates) and not deterministic

    def step(block: nn.Module, carry: jax.Array, rate: jax.Array) -> tuple[jax.Array, None]:
        return body(block, carry, rate if dynamic else None), None

    scanned = nn.scan(
        step,
        variable_axes={True: 0},
        split_rngs={"params": True, "dropout": True},
        length=len(rates),
    )
    x, _ = scanned(make_block(0.0, BLOCK_PREFIX), x, jnp.asarray(rates, jnp.float32))
    return x


def _check_image_group(batch: int, image_group: int) -> int:
    """Number of groups; one-line ``ValueError`` if ``image_group`` does not divide ``batch``."""
    if batch % image_group:
        raise ValueError(
            f"inference_image_group={image_group} does not divide the batch of {batch}; "
            "use a divisor of the batch, or 0 for no grouping."
        )
    return batch // image_group


def _cast_matrices(variables: Any, dtype: Any) -> Any:
    """Parameters with >= 2 axes (kernels) in ``dtype``; vectors (biases, norm scales) kept."""
    return jax.tree.map(lambda p: p.astype(dtype) if jnp.ndim(p) >= 2 else p, variables)


def _grouped(body: Callable, groups: int) -> Callable:
    """``body(block, y, rate)`` on images already dealt into ``[groups, B // groups, ...]``:
    one lifted ``nn.scan`` step per group, all variables shared, each group's result
    written back in place. With a bf16/f16 block the kernels are cast once, before the
    loop (XLA:CPU would otherwise repeat the cast in every step)."""

    def step(block: nn.Module, dealt: jax.Array, index: jax.Array, rate: jax.Array | None):
        return dealt.at[index].set(body(block, dealt[index], rate)), None

    scanned = nn.scan(
        step, variable_broadcast=True, split_rngs={True: False}, in_axes=(0, nn.broadcast)
    )

    def run(block: nn.Module, dealt: jax.Array, rate: jax.Array | None) -> jax.Array:
        loop = scanned
        dtype = getattr(block, "dtype", None)
        if dtype is not None and jnp.dtype(dtype) in LOW_PRECISION:
            cast = functools.partial(_cast_matrices, dtype=dtype)
            loop = nn.map_variables(scanned, "params", trans_in_fn=cast)
        out, _ = loop(block, dealt, jnp.arange(groups), rate)
        return out

    return run


def _block_keys(tree: Mapping[str, Any]) -> list[str]:
    indices = sorted(
        int(m.group(1)) for k in tree if (m := re.fullmatch(rf"{BLOCK_PREFIX}_(\d+)", k))
    )
    if indices != list(range(len(indices))):
        raise ValueError(f"block indices are not 0..{len(indices) - 1}: {indices}")
    return [f"{BLOCK_PREFIX}_{i}" for i in indices]


def stack_block_params(tree: Mapping[str, Any]) -> dict[str, Any]:
    """Per-block tree (``blocks_0 .. blocks_{d-1}``) -> stacked tree (``blocks``, leaves
    ``[d, ...]``). Other top-level entries are kept; a tree without blocks is returned as is.
    """
    tree = dict(tree)
    keys = _block_keys(tree)
    if not keys:
        return tree
    blocks = [tree.pop(k) for k in keys]
    tree[BLOCK_PREFIX] = jax.tree.map(lambda *leaves: np.stack(leaves), *blocks)
    return tree


def unstack_block_params(tree: Mapping[str, Any]) -> dict[str, Any]:
    """Stacked tree (``blocks`` with leaves ``[d, ...]``) -> per-block tree
    (``blocks_0 .. blocks_{d-1}``). A tree without ``blocks`` is returned as is."""
    tree = dict(tree)
    if BLOCK_PREFIX not in tree:
        return tree
    stacked = tree.pop(BLOCK_PREFIX)
    depth = {np.shape(leaf)[0] for leaf in jax.tree.leaves(stacked)}
    if len(depth) != 1:
        raise ValueError(f"stacked block leaves disagree on the depth axis: {sorted(depth)}")
    for i in range(depth.pop()):
        tree[f"{BLOCK_PREFIX}_{i}"] = jax.tree.map(lambda leaf, i=i: np.asarray(leaf[i]), stacked)
    return tree
