"""Run with XLA_FLAGS=--xla_force_host_platform_device_count=8: the same train steps on a
data-parallel mesh and on FSDP / tensor-parallel meshes from the same initial state.
Prints one JSON line: the max absolute parameter difference per mesh against data
parallel, the bytes of parameters each device holds per mesh, and how many parameter
leaves are sharded. With argv[1] = a directory, also writes an orbax checkpoint of the
FSDP state there and its parameters as ``params.npz`` (for the 8 -> 1 device restore test).
"""

import json
import os
import sys

import jax
import numpy as np
import optax
from flax.traverse_util import flatten_dict

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
from train_helpers import max_diff, random_batch, run_steps, tiny_model  # noqa: E402

from mixer_vit import parallel  # noqa: E402
from mixer_vit.train.checkpoints import Checkpointer  # noqa: E402
from mixer_vit.train.state import abstract_train_state, create_train_state  # noqa: E402
from mixer_vit.train.step_options import StepOptions  # noqa: E402

# embed 64, 4 heads, MLP 256: every kernel divides by 8 along its sharded dimension
MODEL = dict(embed_dim=64, mixer_kwargs=dict(num_heads=4), mlp_ratio=4.0)
MESHES = {"fsdp8": dict(fsdp=8), "data2_fsdp2_model2": dict(fsdp=2, model=2)}
OPTIONS = {
    "plain": StepOptions(),
    "ema_accumulation": StepOptions(ema_decay=0.9, accumulation_steps=2),
}


def bytes_held(mesh) -> dict:
    """Parameter bytes on the fullest device, and in all, for the state placed by rules."""
    model = tiny_model(**MODEL)
    tx = optax.sgd(0.1, momentum=0.9)
    abstract = abstract_train_state(model, tx, (8, 8, 1))
    shardings = parallel.tree_shardings(abstract, mesh)
    state = create_train_state(model, tx, (8, 8, 1), jax.random.PRNGKey(0), shardings)
    per_device = parallel.bytes_per_device(state.params)
    total = sum(x.nbytes for x in jax.tree.leaves(state.params))
    sharded = sum(not s.is_fully_replicated for s in jax.tree.leaves(shardings.params))
    return {
        "max_device_bytes": max(per_device.values()),
        "total_bytes": total,
        "sharded_leaves": sharded,
        "leaves": len(jax.tree.leaves(shardings.params)),
    }


def write_checkpoint(directory: str, mesh) -> None:
    options = StepOptions()
    batches = [random_batch(seed=i) for i in range(2)]
    states, _ = run_steps(
        options, batches, mesh=mesh, model=tiny_model(**MODEL), shard_by_rules=True
    )
    # Re-place the final (host) state on the FSDP mesh, as training would hold it.
    live = jax.device_put(states[-1], parallel.tree_shardings(states[-1], mesh))
    ckpt = Checkpointer(os.path.join(directory, "checkpoints"), every_steps=1)
    ckpt.save(2, live, {"iterator": None}, {"model": "fsdp_parity"})
    ckpt.wait()
    ckpt.close()
    flat = flatten_dict(jax.device_get(states[-1].params), sep="/")
    np.savez(os.path.join(directory, "params.npz"), **flat)


def main():
    assert jax.device_count() == 8, jax.devices()
    batches = [random_batch(seed=i) for i in range(3)]
    result = {"diff": {}, "memory": {}}
    for option_name, options in OPTIONS.items():
        reference, _ = run_steps(
            options, batches, mesh=parallel.make_mesh(8), model=tiny_model(**MODEL)
        )
        for mesh_name, axes in MESHES.items():
            states, _ = run_steps(
                options,
                batches,
                mesh=parallel.make_mesh(8, **axes),
                model=tiny_model(**MODEL),
                shard_by_rules=True,
            )
            diff = max_diff(reference[-1].params, states[-1].params)
            diff = max(diff, max_diff(reference[-1].opt_state, states[-1].opt_state))
            if options.ema_decay:
                diff = max(diff, max_diff(reference[-1].ema_params, states[-1].ema_params))
            result["diff"][f"{option_name}/{mesh_name}"] = diff
    result["moved"] = max_diff(reference[0].params, reference[-1].params)
    result["memory"]["data8"] = bytes_held(parallel.make_mesh(8))
    for mesh_name, axes in MESHES.items():
        result["memory"][mesh_name] = bytes_held(parallel.make_mesh(8, **axes))
    if len(sys.argv) > 1:
        write_checkpoint(sys.argv[1], parallel.make_mesh(8, fsdp=8))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
