"""Run with XLA_FLAGS=--xla_force_host_platform_device_count=8: one train step of a tiny
ViT (dropout and drop-path on) on a 1-device mesh and on an 8-device mesh from the same
initial state and batch; prints the max absolute parameter difference as JSON."""

import json
import sys

import jax
import numpy as np

from mixer_vit import parallel
from mixer_vit.models import create_model
from mixer_vit.optim import build_optimizer, build_schedule
from mixer_vit.train.state import create_train_state
from mixer_vit.train.step import make_train_step

sys.path.insert(0, __file__.rsplit("/tests/", 1)[0] + "/tests")
from conftest import TINY_MODEL, load_default_config  # noqa: E402


def one_step(mesh, batch):
    config = load_default_config()
    model = create_model(
        "vit_ti16", num_classes=10, dropout_rate=0.1, drop_path_rate=0.2, **TINY_MODEL
    )
    # sgd with a constant rate: the parameters really move at both steps, and the update
    # is linear in the gradient (adam's first steps are ~lr * sign(g), which turns float
    # noise in near-zero gradients into lr-sized differences).
    config.optim.name, config.optim.momentum, config.optim.warmup = "sgd", 0.9, "0"
    config.optim.schedule, config.optim.lr = "constant", 0.05
    tx = build_optimizer(config.optim, build_schedule(config.optim, 100, 10))
    state = create_train_state(
        model, tx, (8, 8, 1), jax.random.PRNGKey(0), parallel.replicated(mesh)
    )
    step = make_train_step(model, tx, mesh, base_rng=jax.random.PRNGKey(1), label_smoothing=0.1)
    for _ in range(2):  # two steps: the second one reads the optimizer state of the first
        state, metrics = step(state, parallel.shard_batch(batch, mesh))
        jax.block_until_ready(state)
    return jax.device_get(state.params), float(metrics["loss"])


def main():
    assert jax.device_count() == 8, jax.devices()
    rng = np.random.default_rng(0)
    batch = {
        "image": rng.normal(size=(32, 8, 8, 1)).astype(np.float32),
        "label": rng.integers(0, 10, size=32).astype(np.int32),
    }
    params_1, loss_1 = one_step(parallel.make_mesh(1), batch)
    params_8, loss_8 = one_step(parallel.make_mesh(8), batch)
    diffs = jax.tree.leaves(
        jax.tree.map(lambda a, b: float(np.max(np.abs(a - b))), params_1, params_8)
    )
    moved = jax.tree.leaves(jax.tree.map(lambda a: float(np.max(np.abs(a))), params_1))
    print(
        json.dumps(
            {
                "max_abs_diff": max(diffs),
                "loss_1": loss_1,
                "loss_8": loss_8,
                "num_leaves": len(diffs),
                "max_param": max(moved),
            }
        )
    )


if __name__ == "__main__":
    main()
