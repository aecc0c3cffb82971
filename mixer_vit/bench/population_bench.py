"""Population training speed: N members in one vmapped step vs N separate steps.

  python -m mixer_vit.bench.population_bench [--widths 64,128] [--members 1,2,4]
      [--kernels auto,reference] [--repeats 15]

For each kernel setting and width: a ViT (MetaFormer with attention, patch 4, depth 4,
width/32 heads, 28x28x1 inputs, 10 classes) trained with AdamW at batch 128 per member.
Timed, alternating on the same load (``time_alternating``): one separate train step
(``make_train_step``), one population step of each N (``make_population_train_step``), and
4 separate steps of 4 separate states one after the other, and (for comparison, not what
``train.population`` runs) one jitted step whose 4 members are unrolled in Python instead
of vmapped. Prints, per row, the median milliseconds per call, the member-steps per second
and the speed-up over the 4 sequential separate steps (the same work: 4 member-steps).
"""

from __future__ import annotations

import argparse
import statistics

import jax
import jax.numpy as jnp
import numpy as np
import optax

from mixer_vit import parallel
from mixer_vit.bench.timing import time_alternating
from mixer_vit.layers.kernels import use_kernels
from mixer_vit.models import create_model
from mixer_vit.train.population_step import make_population_train_step, shard_population_batch
from mixer_vit.train.state import create_train_state
from mixer_vit.train.step import make_train_step, train_step_body

IMAGE_SHAPE = (28, 28, 1)
BATCH = 128
DEPTH = 4
SEQUENTIAL = 4  # separate steps timed back to back, against a population of this size


def bench_model(width: int):
    return create_model(
        "vit_ti16", patch_size=4, embed_dim=width, depth=DEPTH,
        mixer_kwargs=dict(num_heads=max(1, width // 32)),
        num_classes=10,
    )


def _states(model, tx, mesh, seeds):
    replicated = parallel.replicated(mesh)
    return [
        create_train_state(model, tx, IMAGE_SHAPE, jax.random.PRNGKey(s), replicated)
        for s in seeds
    ]


def _batch(rng: np.random.Generator, members: int | None):
    lead = () if members is None else (members,)
    return {
        "image": rng.standard_normal((*lead, BATCH, *IMAGE_SHAPE)).astype(np.float32),
        "label": rng.integers(0, 10, (*lead, BATCH)).astype(np.int32),
    }


def measure(width: int, members: tuple[int, ...], kernels: str, repeats: int) -> list[dict]:
    """One row per call kind: ``name``, ``member_steps`` per call, ``ms`` (median per
    call), ``member_steps_per_s``."""
    mesh = parallel.make_mesh(1)
    tx = optax.adamw(1e-3, weight_decay=0.05)
    rng = np.random.default_rng(0)
    with use_kernels(kernels):
        model = bench_model(width)
        single = make_train_step(model, tx, mesh, base_rng=jax.random.PRNGKey(1))
        single_batch = parallel.shard_batch(_batch(rng, None), mesh)
        singles = _states(model, tx, mesh, range(SEQUENTIAL))
        populations = {}
        for n in members:
            keys = jnp.stack([jax.random.PRNGKey(s) for s in range(n)])
            step = make_population_train_step(model, tx, mesh, base_rngs=keys)
            state = jax.tree.map(lambda *xs: jnp.stack(xs), *_states(model, tx, mesh, range(n)))
            populations[n] = [step, state, shard_population_batch(_batch(rng, n), mesh)]

        body = train_step_body(model, tx, mesh)
        unrolled_step = jax.jit(
            lambda states, batches, keys: list(zip(*map(body, states, batches, keys))),
            donate_argnums=0,
        )
        unrolled_keys = [jax.random.PRNGKey(s) for s in range(SEQUENTIAL)]
        unrolled_batches = [single_batch] * SEQUENTIAL
        unrolled = [_states(model, tx, mesh, range(SEQUENTIAL))]

        def members_unrolled():
            states, metrics = unrolled_step(unrolled[0], unrolled_batches, unrolled_keys)
            unrolled[0] = list(states)
            jax.block_until_ready(metrics)

        def one_single():
            singles[0], metrics = single(singles[0], single_batch)
            jax.block_until_ready(metrics)

        def sequential():
            for i in range(SEQUENTIAL):
                singles[i], metrics = single(singles[i], single_batch)
            jax.block_until_ready(metrics)

        def population(n):
            def call():
                step, state, batch = populations[n]
                populations[n][1], metrics = step(state, batch)
                jax.block_until_ready(metrics)

            return call

        calls = [("separate x1", 1, one_single)]
        calls += [(f"population {n}", n, population(n)) for n in members]
        calls += [(f"separate x{SEQUENTIAL} sequential", SEQUENTIAL, sequential)]
        calls += [(f"{SEQUENTIAL} unrolled in one jit", SEQUENTIAL, members_unrolled)]
        seconds = time_alternating([c for _, _, c in calls], warmup=2, repeats=repeats)
    rows = []
    for (name, count, _), times in zip(calls, seconds):  # sequential row: index -2
        ms = 1000 * statistics.median(times)
        rows.append({"name": name, "member_steps": count, "ms": ms,
                     "member_steps_per_s": 1000 * count / ms})
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--widths", default="64,128")
    parser.add_argument("--members", default="1,2,4")
    parser.add_argument("--kernels", default="auto,reference")
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args(argv)
    widths = [int(w) for w in args.widths.split(",")]
    members = tuple(int(n) for n in args.members.split(","))
    print(f"jax {jax.__version__}, {jax.devices()[0].platform}, {len(jax.devices())} device(s); "
          f"ViT patch 4, depth {DEPTH}, 28x28x1, batch {BATCH} per member, AdamW; "
          f"median of {args.repeats} alternating rounds")
    print("| kernels | width | call | member-steps | ms / call | member-steps / s | "
          f"speed-up vs {SEQUENTIAL} sequential |")
    print("|---|---|---|---|---|---|---|")
    for kernels in args.kernels.split(","):
        for width in widths:
            rows = measure(width, members, kernels, args.repeats)
            sequential_ms = rows[-2]["ms"]
            for row in rows:
                speedup = ""
                if row["member_steps"] == SEQUENTIAL and "sequential" not in row["name"]:
                    speedup = f"{sequential_ms / row['ms']:.2f}x"
                print(f"| {kernels} | {width} | {row['name']} | {row['member_steps']} | "
                      f"{row['ms']:.1f} | {row['member_steps_per_s']:.1f} | {speedup} |",
                      flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
