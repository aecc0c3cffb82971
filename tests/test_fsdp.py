"""FSDP and tensor-parallel meshes train exactly like data parallelism, hold a fraction of
the parameters per device, and their checkpoints restore onto another mesh shape."""

import os

import jax
import numpy as np
import pytest
from flax.traverse_util import flatten_dict
from jax.sharding import SingleDeviceSharding
from test_sharded_step import run_on_8_simulated_devices
from train_helpers import make_optimizer, tiny_model

from mixer_vit import parallel
from mixer_vit.errors import UserError
from mixer_vit.train.checkpoints import Checkpointer
from mixer_vit.train.state import abstract_train_state
from mixer_vit.train.step_options import StepOptions


@pytest.fixture(scope="module")
def fsdp_run(tmp_path_factory):
    directory = tmp_path_factory.mktemp("fsdp")
    result = run_on_8_simulated_devices("fsdp_parity.py", timeout=600, args=[str(directory)])
    return result, directory


def test_fsdp_and_tensor_parallel_match_data_parallel(fsdp_run):
    result, _ = fsdp_run
    assert set(result["diff"]) == {
        "plain/fsdp8",
        "plain/data2_fsdp2_model2",
        "ema_accumulation/fsdp8",
        "ema_accumulation/data2_fsdp2_model2",
    }
    assert result["moved"] > 1e-3  # the steps really changed the parameters
    for mesh, diff in result["diff"].items():
        assert diff < 1e-5, (mesh, diff)


def test_fsdp_really_shards_the_parameters(fsdp_run):
    memory = fsdp_run[0]["memory"]
    total = memory["data8"]["total_bytes"]
    assert memory["data8"]["max_device_bytes"] == total  # replicated: everything everywhere
    assert memory["data8"]["sharded_leaves"] == 0
    # 8-way FSDP: the kernels and the patch embedding are split 8 ways; small biases and
    # norms stay whole, so a device holds a little more than an eighth.
    assert memory["fsdp8"]["sharded_leaves"] >= 8
    assert total / 8 <= memory["fsdp8"]["max_device_bytes"] < 0.2 * total
    assert memory["data2_fsdp2_model2"]["max_device_bytes"] < 0.3 * total


def test_fsdp_checkpoint_restores_onto_one_device(fsdp_run):
    _, directory = fsdp_run
    model = tiny_model(embed_dim=64, mixer_kwargs=dict(num_heads=4), mlp_ratio=4.0)
    abstract = abstract_train_state(model, make_optimizer(StepOptions()), (8, 8, 1))
    one_device = SingleDeviceSharding(jax.devices()[0])
    target = jax.tree.map(
        lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=one_device), abstract
    )
    ckpt = Checkpointer(os.path.join(directory, "checkpoints"), every_steps=1)
    state, _ = ckpt.restore(2, target)
    ckpt.close()
    expected = np.load(os.path.join(directory, "params.npz"))
    restored = flatten_dict(jax.device_get(state.params), sep="/")
    assert set(restored) == set(expected.files)
    for name, value in restored.items():
        np.testing.assert_array_equal(value, expected[name], err_msg=name)
    leaf = jax.tree.leaves(state.params)[0]
    assert leaf.sharding == one_device


def test_rules_name_transformer_parameters():
    assert parallel.logical_axes("params/blocks_0/mixer/qkv/kernel", (64, 192)) == (
        "embed",
        "heads",
    )
    assert parallel.logical_axes("opt_state/0/trace/blocks/mlp/fc2/kernel", (12, 256, 64)) == (
        None,
        "mlp",
        "embed",
    )
    # unnamed and big: its largest dimension; unnamed and small: whole
    assert parallel.logical_axes("params/patch_embed/proj/kernel", (16, 16, 3, 768)) == (
        None,
        None,
        None,
        "shard",
    )
    assert parallel.logical_axes("params/cls_token", (1, 1, 768)) == (None, None, None)


def test_mesh_must_divide_the_devices():
    with pytest.raises(UserError, match="mesh.fsdp=3 x mesh.model=1 does not divide the 1"):
        parallel.make_mesh(1, fsdp=3)


def test_eval_of_an_fsdp_workdir_falls_back_to_data_parallel_on_fewer_devices():
    from conftest import load_default_config

    from mixer_vit.train.evaluate_checkpoint import _mesh_for_these_devices

    config = load_default_config()
    config.mesh.fsdp, config.mesh.model = 4, 2  # trained on 8 devices; 1 device here
    config = _mesh_for_these_devices(config)
    assert (config.mesh.fsdp, config.mesh.model) == (1, 1)
