"""Population speed when members differ in learning rate and weight decay
(``train.population_hparams``): K members in one vmapped step vs K separate steps.

  python -m mixer_vit.bench.population_hparams_bench [--widths 64,128] [--members 4]
      [--kernels reference] [--repeats 5] [--config experiments/configs/digits.py]

For each width: the ViT of ``population_bench`` (MetaFormer with attention, patch 4,
depth 4, width/32 heads, 28x28x1 inputs, 10 classes, batch 128 per member) trained with
the optimizer of ``--config`` (the default config's: AdamW, warm-up + cosine, weight decay
under the no-decay mask), member i with its own ``optim.lr`` and ``optim.weight_decay`` (``LRS``,
``WEIGHT_DECAYS``). Timed, alternating on the same load (``time_alternating``):

- ``population K, own lr+wd``: what ``train.population_hparams`` runs: one jitted step
  vmapped over K states of ``build_injected_optimizer`` (lr and weight decay are state
  leaves);
- ``population K, shared lr+wd``: a seed-only population (``build_optimizer``), for the
  cost of holding the two values in the state;
- ``K separate, own lr+wd``: K ordinary steps one after the other, each compiled with its
  member's values as constants (what K separate runs do).

Prints the median milliseconds per call, member-steps per second, and the speed-up of each
population over the K separate steps (the same work: K member-steps).
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics

import jax
import jax.numpy as jnp
import numpy as np

from mixer_vit import parallel
from mixer_vit.bench.population_bench import BATCH, DEPTH, IMAGE_SHAPE, _batch, bench_model
from mixer_vit.bench.timing import time_alternating
from mixer_vit.layers.kernels import use_kernels
from mixer_vit.optim import build_optimizer, build_schedule
from mixer_vit.optim.injected import build_injected_optimizer
from mixer_vit.config_file import load_config_file
from mixer_vit.train.population_step import make_population_train_step, shard_population_batch
from mixer_vit.train.state import create_train_state
from mixer_vit.train.step import make_train_step

LRS = (1e-3, 2e-3, 5e-4, 3e-3, 1.5e-3, 7e-4, 4e-3, 2.5e-3)
WEIGHT_DECAYS = (0.05, 0.1, 0.0, 0.3, 0.02, 0.2, 0.08, 0.15)
TOTAL_STEPS, STEPS_PER_EPOCH = 1000, 100
DEFAULT_CONFIG = os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
    "experiments", "configs", "digits.py",
)


def measure(width: int, members: int, kernels: str, repeats: int, optim_config) -> list[dict]:
    """One row per call kind: ``name``, ``member_steps`` per call, ``ms`` (median per
    call), ``member_steps_per_s``. ``optim_config``: a config's ``optim`` section."""

    def _optim(lr: float, weight_decay: float):
        optim = copy.deepcopy(optim_config)
        optim.lr, optim.weight_decay = lr, weight_decay
        return optim

    if members > len(LRS):
        raise SystemExit(f"--members is at most {len(LRS)}")
    mesh, rng = parallel.make_mesh(1), np.random.default_rng(0)
    replicated = parallel.replicated(mesh)
    values = list(zip(LRS[:members], WEIGHT_DECAYS[:members]))
    with use_kernels(kernels):
        model = bench_model(width)

        def init(tx, seed):
            return create_train_state(model, tx, IMAGE_SHAPE, jax.random.PRNGKey(seed), replicated)

        def stack(states):
            return jax.tree.map(lambda *xs: jnp.stack(xs), *states)

        keys = jnp.stack([jax.random.PRNGKey(i) for i in range(members)])
        batch = shard_population_batch(_batch(rng, members), mesh)
        injected = [build_injected_optimizer(_optim(*v), TOTAL_STEPS, STEPS_PER_EPOCH)
                    for v in values]
        shared = _optim(*values[0])
        shared_tx = build_optimizer(shared, build_schedule(shared, TOTAL_STEPS, STEPS_PER_EPOCH))
        populations = {
            "own": [make_population_train_step(model, injected[0], mesh, base_rngs=keys),
                    stack([init(tx, i) for i, tx in enumerate(injected)])],
            "shared": [make_population_train_step(model, shared_tx, mesh, base_rngs=keys),
                       stack([init(shared_tx, i) for i in range(members)])],
        }
        separate = []
        for i, v in enumerate(values):
            optim = _optim(*v)
            tx = build_optimizer(optim, build_schedule(optim, TOTAL_STEPS, STEPS_PER_EPOCH))
            one = parallel.shard_batch({k: np.asarray(x[i]) for k, x in batch.items()}, mesh)
            separate.append([make_train_step(model, tx, mesh, base_rng=keys[i]), init(tx, i), one])

        def population(kind):
            def call():
                step, state = populations[kind]
                populations[kind][1], metrics = step(state, batch)
                jax.block_until_ready(metrics)

            return call

        def sequential():
            for entry in separate:
                step, state, one = entry
                entry[1], metrics = step(state, one)
            jax.block_until_ready(metrics)

        calls = [(f"population {members}, own lr+wd", population("own")),
                 (f"population {members}, shared lr+wd", population("shared")),
                 (f"{members} separate, own lr+wd", sequential)]
        seconds = time_alternating([c for _, c in calls], warmup=2, repeats=repeats)
    rows = []
    for (name, _), times in zip(calls, seconds):
        ms = 1000 * statistics.median(times)
        rows.append({"name": name, "member_steps": members, "ms": ms,
                     "member_steps_per_s": 1000 * members / ms})
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--widths", default="64,128")
    parser.add_argument("--members", type=int, default=4)
    parser.add_argument("--kernels", default="reference")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--config", default=DEFAULT_CONFIG, help="its optim section is used")
    args = parser.parse_args(argv)
    optim = load_config_file(args.config).optim
    print(f"jax {jax.__version__}, {jax.devices()[0].platform}, {len(jax.devices())} device(s); "
          f"ViT patch 4, depth {DEPTH}, 28x28x1, batch {BATCH} per member, {optim.name} + "
          f"{optim.schedule}, "
          f"lr {LRS[:args.members]}, weight decay {WEIGHT_DECAYS[:args.members]}; "
          f"median of {args.repeats} alternating rounds")
    print(f"| kernels | width | call | member-steps | ms / call | member-steps / s | "
          f"speed-up vs {args.members} separate |")
    print("|---|---|---|---|---|---|---|")
    for kernels in args.kernels.split(","):
        for width in (int(w) for w in args.widths.split(",")):
            rows = measure(width, args.members, kernels, args.repeats, optim)
            separate_ms = rows[-1]["ms"]
            for row in rows:
                print(f"| {kernels} | {width} | {row['name']} | {row['member_steps']} | "
                      f"{row['ms']:.1f} | {row['member_steps_per_s']:.2f} | "
                      f"{separate_ms / row['ms']:.2f}x |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
