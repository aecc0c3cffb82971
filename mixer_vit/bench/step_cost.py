"""Cost of a SAM train step relative to a plain one, same model, batch and optimizer.

  python -m mixer_vit.bench.step_cost --model vit_ti16 --batch 32 --image_size 224
  python -m mixer_vit.bench.step_cost --config experiments/configs/fashion_mnist.py:vit \
      --config experiments/configs/fashion_mnist.py:resnet --repeats 20

Prints a Markdown table: median step time over ``--repeats`` timed steps after warm-up
(compile excluded), and the ratio SAM / plain (about 2 expected: two forward-backward
passes per update).

With ``--config`` (a run config, as ``mixer-vit train --config`` takes it; repeatable) the
steps are those of that run: its model, optimizer, global batch, image shape and tricks
(label smoothing, mixup, ...), with SAM off and on (its ``sam.rho``, or 0.05 where it is
0), on random images. The two steps are timed in alternation, so both see the same load
of a shared machine, and the ratio is the median over rounds of SAM / plain.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time

import jax
import numpy as np
import optax

from mixer_vit import parallel
from mixer_vit.bench.timing import time_alternating
from mixer_vit.config_file import load_config_file
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


class _SteppedState:
    """A jitted train step and the state it donates and replaces, called with one batch."""

    def __init__(self, plan, options: StepOptions, batch: dict):
        self.state = plan.init_state()
        self.batch = parallel.shard_batch(batch, plan.mesh)
        self.step = make_train_step(
            plan.model,
            plan.tx,
            plan.mesh,
            base_rng=jax.random.PRNGKey(1),
            options=options,
            state_sharding=plan.state_sharding(),
        )

    def __call__(self) -> None:
        self.state, metrics = self.step(self.state, self.batch)
        jax.block_until_ready(metrics)


def config_step_cost(spec: str, repeats: int, default_rho: float = 0.05) -> dict:
    """Plain and SAM train steps of the run ``spec`` (``FILE[:ARG]``) describes, timed in
    alternation: ``{"config", "model", "batch", "image", "plain_s", "sam_s", "ratio"}``,
    step seconds the medians of ``repeats`` timed steps and ratio the median per-round
    SAM / plain."""
    from mixer_vit.train.plan import plan_run  # the data set must be prepared

    plan = plan_run(load_config_file(spec))
    options = plan.step_options
    rho = options.sam_rho or default_rho
    rng = np.random.default_rng(0)
    size = plan.global_batch_size
    batch = {
        "image": rng.normal(size=(size, *plan.image_shape)).astype(np.float32),
        "label": rng.integers(0, plan.num_classes, size=size).astype(np.int32),
    }
    plain = _SteppedState(plan, dataclasses.replace(options, sam_rho=0.0), batch)
    sam = _SteppedState(plan, dataclasses.replace(options, sam_rho=rho), batch)
    plain_s, sam_s = time_alternating([plain, sam], warmup=2, repeats=repeats)
    return {
        "config": spec,
        "model": plan.config.model.name,
        "batch": size,
        "image": "x".join(str(d) for d in plan.image_shape),
        "plain_s": statistics.median(plain_s),
        "sam_s": statistics.median(sam_s),
        "ratio": statistics.median(s / p for p, s in zip(plain_s, sam_s)),
    }


def _config_rows(specs: list[str], repeats: int) -> None:
    print("| config | model | batch | image | plain step (s) | SAM step (s) | SAM / plain |")
    print("|---|---|---|---|---|---|---|")
    for spec in specs:
        row = config_step_cost(spec, repeats)
        print(
            f"| {row['config']} | {row['model']} | {row['batch']} | {row['image']} | "
            f"{row['plain_s']:.4f} | {row['sam_s']:.4f} | {row['ratio']:.2f} |"
        )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="vit_ti16")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--image_size", type=int, default=224)
    parser.add_argument("--num_classes", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--config",
        action="append",
        help="a run config FILE[:ARG] (repeatable); times that run's steps instead",
    )
    args = parser.parse_args(argv)
    if args.config:
        from mixer_vit.xla_cpu_flags import TRAIN_DEFAULT, set_default_xla_cpu_flags

        set_default_xla_cpu_flags(default=TRAIN_DEFAULT)  # as `mixer-vit train` runs
        _config_rows(args.config, args.repeats)
        return
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
