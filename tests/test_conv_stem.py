"""The convolutional ViT stem (Xiao et al. 2021; layers/conv_stem.py): parity with the
same layers built in torch, its parameter count, its errors, and a ViT trained with it."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from train_helpers import random_batch, run_steps, tiny_model

from mixer_vit.layers import ConvStem
from mixer_vit.model_views.token_layout import patch_grid
from mixer_vit.models import create_model
from mixer_vit.train.step_options import StepOptions

WIDTHS, EMBED = (4, 6), 5


def _random_variables(images):
    """Stem variables with random weights and random running statistics."""
    variables = ConvStem(WIDTHS, EMBED).init(jax.random.key(0), images, train=False)
    rng = np.random.default_rng(1)

    def randomise(path, leaf):
        name = jax.tree_util.keystr(path)
        if "var" in name:
            return rng.uniform(0.5, 2.0, leaf.shape).astype(np.float32)
        return rng.normal(0.0, 0.5, leaf.shape).astype(np.float32)

    return jax.tree_util.tree_map_with_path(randomise, jax.device_get(variables))


def _torch_stem(torch, variables, channels: int):
    """The same stem as torch layers (weights copied, HWIO -> OIHW)."""
    params, stats = variables["params"], variables["batch_stats"]
    layers, fan_in = [], channels
    for i, width in enumerate(WIDTHS):
        conv = torch.nn.Conv2d(fan_in, width, 3, stride=2, padding=1, bias=False)
        conv.weight.data = torch.tensor(params[f"conv_{i}"]["kernel"].transpose(3, 2, 0, 1))
        norm = torch.nn.BatchNorm2d(width, eps=1e-5, momentum=0.1)
        norm.weight.data = torch.tensor(params[f"bn_{i}"]["scale"])
        norm.bias.data = torch.tensor(params[f"bn_{i}"]["bias"])
        norm.running_mean.data = torch.tensor(stats[f"bn_{i}"]["mean"])
        norm.running_var.data = torch.tensor(stats[f"bn_{i}"]["var"])
        layers += [conv, norm, torch.nn.ReLU()]
        fan_in = width
    proj = torch.nn.Conv2d(fan_in, EMBED, 1)
    proj.weight.data = torch.tensor(params["proj"]["kernel"].transpose(3, 2, 0, 1))
    proj.bias.data = torch.tensor(params["proj"]["bias"])
    return torch.nn.Sequential(*layers, proj)


@pytest.mark.parametrize("train", [False, True])
def test_matches_the_same_layers_in_torch(train):
    torch = pytest.importorskip("torch")
    images = np.random.default_rng(2).normal(size=(3, 12, 8, 2)).astype(np.float32)
    variables = _random_variables(jnp.asarray(images))
    stem = ConvStem(WIDTHS, EMBED)
    if train:
        tokens, updated = stem.apply(variables, images, train=True, mutable=["batch_stats"])
    else:
        tokens = stem.apply(variables, images, train=False)
    reference = _torch_stem(torch, variables, channels=2).train(train)
    with torch.no_grad():
        expected = reference(torch.tensor(images.transpose(0, 3, 1, 2))).numpy()
    # [B, D, H/4, W/4] -> [B, N, D], tokens row-major
    expected = expected.transpose(0, 2, 3, 1).reshape(3, -1, EMBED)
    assert tokens.shape == (3, 3 * 2, EMBED)
    np.testing.assert_allclose(np.asarray(tokens), expected, atol=2e-5, rtol=1e-5)
    if train:  # the running means move as torch's do (Flax momentum 0.9 = torch 0.1)
        for i in range(len(WIDTHS)):
            np.testing.assert_allclose(
                np.asarray(updated["batch_stats"][f"bn_{i}"]["mean"]),
                reference[3 * i + 1].running_mean.numpy(),
                atol=1e-5,
            )


def _fashion_mnist_vit_c(**overrides):
    """experiments/configs/fashion_mnist.py's ViT with a two-convolution stem."""
    fields = dict(
        patch_size=4,
        embed_dim=96,
        depth=6,
        mixer_kwargs=dict(num_heads=3),
        mlp_ratio=2.0,
        use_class_token=False,
        pool="gap",
        conv_stem_widths=(32, 64),
        num_classes=10,
    )
    return create_model("vit_ti16", **{**fields, **overrides})


def test_parameter_count_derived_by_hand():
    model = _fashion_mnist_vit_c()
    variables = jax.eval_shape(lambda: model.init(jax.random.key(0), jnp.zeros((1, 28, 28, 1))))
    width, hidden, tokens = 96, 192, 49
    stem = 3 * 3 * 1 * 32 + 2 * 32 + 3 * 3 * 32 * 64 + 2 * 64 + 64 * width + width
    block = 2 * width + (width * 3 * width + 3 * width) + (width * width + width) + 2 * width
    block += (width * hidden + hidden) + (hidden * width + width)
    total = stem + tokens * width + 6 * block + 2 * width + width * 10 + 10
    counted = sum(math.prod(leaf.shape) for leaf in jax.tree.leaves(variables["params"]))
    assert counted == total == 479_722
    assert set(variables["batch_stats"]["conv_stem"]) == {"bn_0", "bn_1"}
    assert "patch_embed" not in variables["params"]
    assert patch_grid(variables["params"], (28, 28, 1)) == (7, 7)


def test_default_vit_keeps_its_patch_embedding():
    model = _fashion_mnist_vit_c(conv_stem_widths=())
    variables = jax.eval_shape(lambda: model.init(jax.random.key(0), jnp.zeros((1, 28, 28, 1))))
    assert set(variables) == {"params"}
    assert variables["params"]["patch_embed"]["proj"]["kernel"].shape == (4, 4, 1, 96)


@pytest.mark.parametrize(
    "overrides, message",
    [
        (dict(conv_stem_widths=(32, 64, 128)), "total stride 8, but patch_size is 4"),
        (dict(conv_stem_widths=(32, 0)), "conv_stem_widths must be ints >= 1"),
        (dict(conv_stem_widths=(32, 6.5)), "conv_stem_widths must be ints >= 1"),
    ],
)
def test_bad_stems_are_refused(overrides, message):
    with pytest.raises(ValueError, match=message):
        _fashion_mnist_vit_c(**overrides)


def test_image_size_must_be_a_multiple_of_the_stride():
    model = _fashion_mnist_vit_c()
    with pytest.raises(ValueError, match="30x28 is not divisible by the conv stem's stride 4"):
        model.init(jax.random.key(0), jnp.zeros((1, 30, 28, 1)))


def test_a_vit_with_the_stem_trains_and_updates_its_statistics():
    model = tiny_model(conv_stem_widths=(8,))
    batches = [random_batch()] * 15  # one batch, learnt: the loss must fall
    states, metrics = run_steps(StepOptions(), batches, model=model, lr=0.05)
    assert metrics[-1]["loss"] < 0.7 * metrics[0]["loss"]
    first, last = (s.model_state["batch_stats"]["conv_stem"]["bn_0"]["mean"] for s in states[::14])
    assert np.abs(np.asarray(last) - np.asarray(first)).max() > 1e-4


def test_early_convolutions_arms_differ_only_in_stem_and_optimizer():
    """experiments/early_convolutions.py: the two ViT_C arms are the ViT arms with the
    stem (and nothing else) changed; the SGD arms change the optimizer only."""
    from mixer_vit.experiment.spec import load_base_config, load_experiment

    spec = load_experiment("early_convolutions")
    configs = {}
    for name, arm in spec.arms.items():
        config = load_base_config(arm.config)
        for dotted, value in arm.overrides.items():
            *parents, leaf = dotted.split(".")
            node = config
            for parent in parents:
                node = node[parent]
            node[leaf] = value
        configs[name] = config.to_dict()
    for stem in ("vit", "vit_c"):
        plain, sgd = configs[stem], configs[f"{stem}_sgd"]
        assert plain["optim"]["name"] == "adamw" and sgd["optim"]["name"] == "sgd"
        assert {k: v for k, v in plain.items() if k != "optim"} == {
            k: v for k, v in sgd.items() if k != "optim"}
    patchify, conv = configs["vit"]["model"]["overrides"], configs["vit_c"]["model"]["overrides"]
    assert conv.pop("conv_stem_widths") == (32, 64) and conv == patchify
