"""Throughput of one of our models in one mode (inference, train, train_sam) on all devices.

The function is compiled ahead of time (``jit(...).lower(...).compile()``), so compile
time is measured on its own and never inside the timed calls. FLOPs come from XLA's cost
analysis of the same computation over the global batch (2 FLOPs per multiply-add); for
the train modes that is the whole step (forward, backward, optimizer; SAM's two passes)
divided by the batch. The cost analysis counts a loop body only once, so the FLOPs are
those of the same model lowered (never compiled or run) without loops: blocks unscanned
(``--scan``), attention unblocked and the batch not split into image groups
(``mixer_vit.layers.image_groups.loop_free_lowering``; the blocked attention's backward
recomputes the logits: that recompute is not counted, as in model-FLOPs utilisation).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import jax
import numpy as np
import optax

from mixer_vit import parallel
from mixer_vit.bench.options import DTYPES
from mixer_vit.bench.timing import throughput
from mixer_vit.layers.image_groups import loop_free_lowering
from mixer_vit.models import create_model, model_fields
from mixer_vit.train.state import create_train_state
from mixer_vit.train.step import make_train_step
from mixer_vit.train.step_options import StepOptions
from mixer_vit.xla_cpu_flags import compiler_options, has_softmax

SAM_RHO = 0.05


def build_model(name: str, dtype: str, scan: bool, overrides: dict[str, Any]):
    """Our model ``name`` in compute ``dtype``; with ``scan`` its blocks run as one
    ``nn.scan`` when the model has ``scan_blocks`` (the flag is recorded per row)."""
    kwargs = dict(overrides, dtype=DTYPES[dtype])
    scanned = scan and "scan_blocks" in model_fields(name)
    if scanned:
        kwargs["scan_blocks"] = True
    return create_model(name, **kwargs), scanned


def _batch(
    batch_size: int, image_size: int, num_classes: int, channels: int = 3
) -> dict[str, np.ndarray]:
    """Random images ``[B, S, S, channels]`` and labels ``[B]``."""
    rng = np.random.default_rng(0)
    shape = (batch_size, image_size, image_size, channels)
    return {
        "image": rng.normal(size=shape).astype(np.float32),
        "label": rng.integers(0, num_classes, size=batch_size).astype(np.int32),
    }


def _flops(lowered) -> float:
    cost = lowered.cost_analysis()
    if isinstance(cost, (list, tuple)):
        cost = cost[0]
    return float(cost["flops"])


def _compile(lowered, dtype: str):
    """``lowered.compile()`` with this project's per-dtype XLA:CPU options (bf16 dots to
    YNNPACK, and with a softmax its reductions too, see ``mixer_vit.xla_cpu_flags``);
    timed by the caller."""
    platform = jax.devices()[0].platform
    options = compiler_options(dtype, platform, softmax=has_softmax(lowered))
    return lowered.compile(compiler_options=options)


def _inference(model, batch, mesh, dtype: str = "float32", abstract: bool = False):
    """(compile seconds, a blocking forward call); with ``abstract``, only the FLOPs."""
    replicated = parallel.replicated(mesh)
    images = parallel.shard_batch({"image": batch["image"]}, mesh)["image"]
    init = jax.jit(
        lambda x: model.init(jax.random.PRNGKey(0), x, train=False), out_shardings=replicated
    )
    variables = jax.eval_shape(init, images[:1]) if abstract else init(images[:1])
    if abstract:
        return _flops(jax.jit(lambda v, x: model.apply(v, x, train=False)).lower(variables, images))
    forward = jax.jit(
        lambda v, x: model.apply(v, x, train=False),
        in_shardings=(replicated, parallel.batch_sharding(mesh)),
    )
    start = time.perf_counter()
    lowered = forward.lower(variables, images)
    compiled = _compile(lowered, dtype)
    compile_s = time.perf_counter() - start
    return compile_s, lambda: compiled(variables, images).block_until_ready()


def _train(model, batch, mesh, sam: bool, dtype: str = "float32", abstract: bool = False):
    """(compile seconds, a blocking train-step call); with ``abstract``, only the FLOPs."""
    tx = optax.adamw(1e-4)
    args = (model, tx, batch["image"].shape[1:], jax.random.PRNGKey(0), parallel.replicated(mesh))
    if abstract:
        state = jax.eval_shape(lambda: create_train_state(*args))
    else:
        state = create_train_state(*args)
    options = StepOptions(sam_rho=SAM_RHO) if sam else StepOptions()
    step = make_train_step(model, tx, mesh, base_rng=jax.random.PRNGKey(1), options=options)
    sharded = parallel.shard_batch(batch, mesh)
    if abstract:
        return _flops(step.lower(state, sharded))
    start = time.perf_counter()
    lowered = step.lower(state, sharded)
    compiled = _compile(lowered, dtype)
    compile_s = time.perf_counter() - start
    holder = [state]

    def call():
        holder[0], metrics = compiled(holder[0], sharded)
        jax.block_until_ready(metrics)  # also avoids the CPU all-reduce deadlock (DESIGN)

    return compile_s, call


def peak_memory_bytes() -> int | None:
    """Largest ``peak_bytes_in_use`` over the devices (process lifetime so far), or None
    where the backend reports no memory statistics (CPU)."""
    peaks = []
    for device in jax.devices():
        stats = device.memory_stats()
        if stats and "peak_bytes_in_use" in stats:
            peaks.append(int(stats["peak_bytes_in_use"]))
    return max(peaks) if peaks else None


def prepare_ours(
    name: str,
    mode: str,
    dtype: str,
    image_size: int,
    batch_size: int,
    scan: bool = False,
    overrides: dict[str, Any] | None = None,
    channels: int = 3,
) -> tuple[Callable[[], Any], dict[str, Any]]:
    """The compiled, blocking call of the row and the row without its timings
    (:func:`finish_row` adds them)."""
    model, scanned = build_model(name, dtype, scan, overrides or {})
    mesh = parallel.make_mesh()
    num_classes = getattr(model, "num_classes", 1000) or 1000
    batch = _batch(batch_size, image_size, num_classes, channels)
    if mode == "inference":
        compile_s, call = _inference(model, batch, mesh, dtype)
    else:
        compile_s, call = _train(model, batch, mesh, sam=mode == "train_sam", dtype=dtype)
    with loop_free_lowering():  # loop-free lowering for the cost analysis (see above)
        plain, _ = build_model(name, dtype, False, overrides or {})
        if mode == "inference":
            flops = _inference(plain, batch, mesh, abstract=True)
        else:
            flops = _train(plain, batch, mesh, sam=mode == "train_sam", abstract=True)
    row = {
        "model": name,
        "framework": "jax",
        "mode": mode,
        "dtype": dtype,
        "image_size": image_size,
        "channels": channels,
        "batch_size": batch_size,
        "scan_blocks": scanned,
        "devices": jax.device_count(),
        "compile_s": compile_s,
        "gflops_per_image": flops / batch_size / 1e9,
    }
    return call, row


def finish_row(row: dict[str, Any], seconds: list[float]) -> dict[str, Any]:
    """``row`` from :func:`prepare_ours` with img/s (median, min, max, per device) from
    the timed calls, and the peak memory so far."""
    rates = throughput(seconds, row["batch_size"])
    return {
        **row,
        **rates,
        "img_per_s_per_device": rates["img_per_s"] / row["devices"],
        "peak_memory_bytes": peak_memory_bytes(),
    }
