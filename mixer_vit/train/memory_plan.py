"""How big a ViT / MLP-Mixer trains on one accelerator: data parallel vs FSDP.

  python -m mixer_vit.train.memory_plan --devices 8 --memory_gb 80 --dtype bfloat16

Per-device memory of the real train step (adamw, float32 parameters and optimizer state,
activations in ``--dtype``) at ``--image_size``, from two measured parts:

* the train state (parameters + optimizer state): its exact bytes, from the shapes
  ``abstract_train_state`` gives for the model;
* the step's temporary buffers (activations kept for the backward pass, gradients, the
  optimizer's intermediates): XLA's ``memory_analysis()`` of the compiled train step of a
  1- and a 2-block copy of the model at batch 16 and 32, fitted as
  ``temp(L, b) = c0 + c1 L + c2 b + c3 L b`` and extrapolated to the model's depth ``L``
  and per-device batch ``b``. The compiler of the backend this runs on decides what is
  kept, so the numbers are that backend's (CPU keeps bfloat16 activations in float32;
  run it on the GPU for GPU numbers). On CPU a batch whose whole ``[B, H, N, N]``
  attention logits fit in 8 MiB runs attention unblocked and keeps them
  (``mixer_vit.layers.blocked_attention``); the fit uses batches above that for ViT-sized
  models, as do the batches that decide what fits.

Data parallel keeps the whole state and the whole per-layer gradient on every device.
FSDP over ``n`` devices keeps ``1/n`` of the state and of the per-layer temporaries
(gradients are reduce-scattered) plus the float32 parameters of the block being gathered
(counted twice: forward and backward); activations are per-example in both. Printed: the
largest per-device batch that fits in ``--memory_gb`` for each model, a Markdown table.
"""

from __future__ import annotations

import argparse
import dataclasses
import math

import jax
import jax.numpy as jnp
import optax
from tqdm import tqdm

from mixer_vit import parallel
from mixer_vit.models import create_model
from mixer_vit.train.state import abstract_train_state
from mixer_vit.train.step import make_train_step

GB = 1e9
# Per-device batches the temporaries are fitted at: XLA's buffers grow a little faster
# than linearly with the batch (ViT-B/16 bf16 on CPU: a fit at batch 1-2 was 9% low at 32),
# and on CPU small batches take the unblocked attention path, which keeps more.
FIT_BATCHES = (16, 32)

# ViTs past the registry, from the scaling papers (Zhai et al. 2022; Dehghani et al. 2023):
# name -> (registered base, overrides). ViT-22B is counted as a plain ViT of its shape.
SCALED_VITS = {
    "vit_g14": ("vit_h14", dict(embed_dim=1408, depth=40, mlp_ratio=6144 / 1408)),
    "vit_G14": ("vit_h14", dict(embed_dim=1664, depth=48, mlp_ratio=8192 / 1664)),
    "vit_e14": ("vit_h14", dict(embed_dim=1792, depth=56, mlp_ratio=15360 / 1792)),
    "vit_22b14": (
        "vit_h14",
        dict(embed_dim=6144, depth=48, mlp_ratio=4.0, mixer_kwargs=dict(num_heads=48)),
    ),
}
DEFAULT_MODELS = (
    "mixer_b16",
    "mixer_l16",
    "mixer_h14",
    "vit_b16",
    "vit_l16",
    "vit_h14",
    *SCALED_VITS,
)


@dataclasses.dataclass(frozen=True)
class MemoryModel:
    """Bytes of one model's train step. state_bytes: parameters + optimizer state;
    layer_param_bytes: float32 parameters of one block; temp_coefficients (c0, c1, c2, c3)
    of ``temp(L, b) = c0 + c1 L + c2 b + c3 L b``; input_bytes_per_image: the batch."""

    name: str
    params: int
    depth: int
    state_bytes: int
    layer_param_bytes: int
    temp_coefficients: tuple[float, float, float, float]
    input_bytes_per_image: int

    def temp_bytes(self, depth: int, batch: int) -> float:
        c0, c1, c2, c3 = self.temp_coefficients
        return c0 + c1 * depth + c2 * batch + c3 * depth * batch

    def data_parallel_bytes(self, batch: int) -> float:
        """Per device, data parallel, ``batch`` images per device."""
        return (
            self.state_bytes
            + self.input_bytes_per_image * batch
            + self.temp_bytes(self.depth, batch)
        )

    def fsdp_bytes(self, batch: int, devices: int) -> float:
        """Per device, FSDP over ``devices``, ``batch`` images per device."""
        c0, c1, c2, c3 = self.temp_coefficients
        sharded = (self.state_bytes + c0 + c1 * self.depth) / devices
        per_image = self.input_bytes_per_image + c2 + c3 * self.depth
        return sharded + 2 * self.layer_param_bytes + per_image * batch

    def largest_batch(self, budget_bytes: float, devices: int | None = None) -> int:
        """The largest per-device batch within ``budget_bytes`` (0: not even one image);
        ``devices`` None = data parallel, else FSDP over that many devices."""
        fixed = self.data_parallel_bytes(0) if devices is None else self.fsdp_bytes(0, devices)
        per_image = (
            self.data_parallel_bytes(1) if devices is None else self.fsdp_bytes(1, devices)
        ) - fixed
        if fixed >= budget_bytes:
            return 0
        return int(math.floor((budget_bytes - fixed) / per_image))


def build(name: str, **overrides):
    """A registered model or one of ``SCALED_VITS``, with ``overrides``."""
    if name in SCALED_VITS:
        base, scaled = SCALED_VITS[name]
        return create_model(base, **{**scaled, **overrides})
    return create_model(name, **overrides)


def compiled_temp_bytes(model, tx, image_size: int, batch: int) -> int:
    """XLA's temporary-buffer bytes of the compiled train step (nothing is allocated)."""
    mesh = parallel.make_mesh(1)
    state = abstract_train_state(model, tx, (image_size, image_size, 3))
    step = make_train_step(model, tx, mesh, base_rng=jax.random.PRNGKey(0))
    batch_shapes = {
        "image": jax.ShapeDtypeStruct((batch, image_size, image_size, 3), jnp.float32),
        "label": jax.ShapeDtypeStruct((batch,), jnp.int32),
    }
    return int(step.lower(state, batch_shapes).compile().memory_analysis().temp_size_in_bytes)


def _tree_bytes(tree) -> int:
    return sum(x.size * x.dtype.itemsize for x in jax.tree.leaves(tree))


def measure(
    name: str, image_size: int, dtype, remat: bool = False, overrides: dict | None = None
) -> MemoryModel:
    """Fits the ``MemoryModel`` of ``name`` (with ``overrides``) from four compiles of 1-
    and 2-block copies."""
    tx = optax.adamw(1e-4, weight_decay=0.05)
    options = {**(overrides or {}), "dtype": dtype}
    if remat:
        # Under nn.scan: remat of unscanned blocks saved nothing in XLA:CPU's analysis
        # (ViT-B/16, batch 8: +180 MB per block with or without it; +33 MB scanned).
        options.update(remat_blocks=True, scan_blocks=True)
    full = build(name, **options)
    shape = (image_size, image_size, 3)
    state = abstract_train_state(full, tx, shape)
    temps = {}
    for depth in (1, 2):
        for batch in FIT_BATCHES:
            temps[depth, batch] = compiled_temp_bytes(
                build(name, **{**options, "depth": depth}), tx, image_size, batch
            )
    small, large = FIT_BATCHES
    # temp(L, b) = c0 + c1 L + c2 b + c3 L b through the four points (L in {1, 2})
    c3 = (temps[2, large] - temps[2, small] - temps[1, large] + temps[1, small]) / (large - small)
    c2 = (temps[1, large] - temps[1, small]) / (large - small) - c3
    c1 = temps[2, small] - temps[1, small] - c3 * small
    c0 = temps[1, small] - c1 - (c2 + c3) * small
    one_block = abstract_train_state(build(name, **{**options, "depth": 1}), tx, shape)
    two_blocks = abstract_train_state(build(name, **{**options, "depth": 2}), tx, shape)
    return MemoryModel(
        name=name,
        params=sum(x.size for x in jax.tree.leaves(state.params)),
        depth=full.depth,
        state_bytes=_tree_bytes((state.params, state.opt_state)),
        layer_param_bytes=_tree_bytes(two_blocks.params) - _tree_bytes(one_block.params),
        temp_coefficients=(float(c0), float(c1), float(c2), float(c3)),
        input_bytes_per_image=image_size * image_size * 3 * 4 + 4,
    )


def markdown_table(plans: list[MemoryModel], budget_gb: float, devices: int) -> str:
    """One row per model: params, state, activations per image, largest per-device batch
    with data parallelism and with FSDP over ``devices``."""
    budget = budget_gb * GB
    lines = [
        f"| model | params | params + adamw (GB) | temp. per image (GB) | DP: max batch/device "
        f"| FSDP-{devices}: state/device (GB) | FSDP-{devices}: max batch/device |",
        "|---|---|---|---|---|---|---|",
    ]
    for plan in plans:
        per_image = plan.data_parallel_bytes(1) - plan.data_parallel_bytes(0)
        lines.append(
            f"| {plan.name} | {plan.params / 1e6:,.0f}M | {plan.state_bytes / GB:.1f} "
            f"| {per_image / GB:.3f} | {plan.largest_batch(budget) or 'does not fit'} "
            f"| {plan.state_bytes / devices / GB:.1f} "
            f"| {plan.largest_batch(budget, devices) or 'does not fit'} |"
        )
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default=",".join(DEFAULT_MODELS))
    parser.add_argument("--image_size", type=int, default=224)
    parser.add_argument("--dtype", choices=("float32", "bfloat16"), default="bfloat16")
    parser.add_argument("--devices", type=int, default=8, help="FSDP group size")
    parser.add_argument("--memory_gb", type=float, default=80.0, help="per device")
    parser.add_argument(
        "--remat", action="store_true", help="rematerialise each block (scanned blocks)"
    )
    args = parser.parse_args(argv)
    dtype = jnp.bfloat16 if args.dtype == "bfloat16" else jnp.float32
    names = [n for n in args.models.split(",") if n]
    plans = [
        measure(name, args.image_size, dtype, args.remat)
        for name in tqdm(names, desc="compiling", unit="model")
    ]
    print(
        f"{args.image_size}x{args.image_size}, {args.dtype} activations, adamw, "
        f"{args.memory_gb:g} GB per device, backend {jax.default_backend()}"
        f"{', remat' if args.remat else ''}\n"
    )
    print(markdown_table(plans, args.memory_gb, args.devices))


if __name__ == "__main__":
    main()
