"""Cost of a SAM train step relative to a plain one, same model, batch and optimizer.

  python -m mixer_vit.bench.step_cost --model vit_ti16 --batch 32 --image_size 224

Prints a Markdown table: median step time over ``--repeats`` timed steps after warm-up
(compile excluded), and the ratio SAM / plain (about 2 expected: two forward-backward
passes per update).
"""

from __future__ import annotations

import argparse
import statistics
import time

import jax
import numpy as np
import optax

from mixer_vit import parallel
from mixer_vit.models import create_model
from mixer_vit.train.state import create_train_state
from mixer_vit.train.step import make_train_step
from mixer_vit.train.step_options import StepOptions


def time_train_step(model, options: StepOptions, batch: dict, repeats: int) -> tuple[float, float]:
    """(median seconds per step, compile seconds) of the jitted, sharded train step."""
    mesh = parallel.make_mesh()
    tx = optax.adamw(1e-4)
    state = create_train_state(
        model,
        tx,
        batch["image"].shape[1:],
        jax.random.PRNGKey(0),
        parallel.replicated(mesh),
        with_ema=options.ema_decay > 0,
    )
    step = make_train_step(model, tx, mesh, base_rng=jax.random.PRNGKey(1), options=options)
    sharded = parallel.shard_batch(batch, mesh)
    start = time.perf_counter()
    state, metrics = step(state, sharded)
    jax.block_until_ready(metrics)
    compile_seconds = time.perf_counter() - start
    state, metrics = step(state, sharded)  # one more warm-up step
    jax.block_until_ready(metrics)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        state, metrics = step(state, sharded)
        jax.block_until_ready(metrics)
        times.append(time.perf_counter() - start)
    return statistics.median(times), compile_seconds


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="vit_ti16")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--image_size", type=int, default=224)
    parser.add_argument("--num_classes", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    model = create_model(args.model, num_classes=args.num_classes)
    rng = np.random.default_rng(0)
    batch = {
        "image": rng.normal(size=(args.batch, args.image_size, args.image_size, 3)).astype(
            np.float32
        ),
        "label": rng.integers(0, args.num_classes, size=args.batch).astype(np.int32),
    }
    plain, _ = time_train_step(model, StepOptions(), batch, args.repeats)
    sam, _ = time_train_step(model, StepOptions(sam_rho=0.05), batch, args.repeats)
    print("| model | batch | image | plain step (s) | SAM step (s) | SAM / plain |")
    print("|---|---|---|---|---|---|")
    print(
        f"| {args.model} | {args.batch} | {args.image_size} | {plain:.3f} | {sam:.3f} | "
        f"{sam / plain:.2f} |"
    )


if __name__ == "__main__":
    main()
