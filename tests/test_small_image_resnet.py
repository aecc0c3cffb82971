"""The ResNet's small-image stem and configurable stage widths (He et al.'s CIFAR layout),
and the Fashion-MNIST presets and data-efficiency experiment built on them."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import pytest

import os

from mixer_vit.bench.flops import param_count
from mixer_vit.config_file import load_config_file
from mixer_vit.experiment.spec import load_experiment
from mixer_vit.models import create_model


def test_cifar_resnet18_has_the_well_known_parameter_count():
    # The common CIFAR ResNet-18 (3x3 stem, no max-pool, widths 64..512, 10 classes) has
    # 11,173,962 trainable parameters: convs + BN scale/bias + the 512x10 head.
    model = create_model("resnet18", stem="cifar", num_classes=10)
    assert param_count(model, (32, 32, 3)) == 11_173_962


def test_stage_widths_and_shapes_on_28x28():
    model = create_model(
        "resnet18", stem="cifar", depths=(1, 1, 1), stage_widths=(8, 16, 32), num_classes=0
    )
    assert model.total_stride == 4
    x = jnp.ones((2, 28, 28, 1))
    variables = model.init(jax.random.PRNGKey(0), x)
    features = model.apply(variables, x)
    assert features.shape == (2, 32)
    # stem conv 3x3x1x8, stage 1 (two 3x3x8x8), stage 2 (3x3x8x16, 3x3x16x16, 1x1 8x16
    # shortcut), stage 3 likewise 16 -> 32; BN: scale + bias per channel of every BN.
    convs = 9 * 8 + 2 * 9 * 64 + (9 * 8 * 16 + 9 * 256 + 8 * 16) + (9 * 16 * 32 + 9 * 1024 + 16 * 32)
    bns = 2 * (8 + 2 * 8 + 3 * 16 + 3 * 32)
    assert param_count(model, (28, 28, 1)) == convs + bns


def test_default_resnet_is_unchanged_and_bad_fields_are_clear():
    assert create_model("resnet50").total_stride == 32
    with pytest.raises(ValueError, match="stem must be one of"):
        create_model("resnet18", stem="tiny")
    with pytest.raises(ValueError, match="one positive width per stage"):
        create_model("resnet18", stage_widths=(16, 32))
    with pytest.raises(ValueError, match="too small for ResNet"):
        model = create_model("resnet18", num_classes=10)
        model.init(jax.random.PRNGKey(0), jnp.ones((1, 28, 28, 1)))


@pytest.mark.parametrize("preset", ["vit", "vit_c", "mixer", "resnet", "convmixer"])
def test_fashion_mnist_presets_build_and_hold_out_validation(preset):
    here = os.path.dirname(os.path.abspath(__file__))
    path = os.path.join(here, "..", "experiments", "configs", "fashion_mnist.py")
    config = load_config_file(f"{path}:{preset}")
    assert config.data.name == "fashion_mnist"
    assert (config.data.train_split, config.data.eval_split) == ("train[:90%]", "train[90%:]")
    overrides = dict(config.model.overrides.to_dict(), num_classes=10)
    model = create_model(config.model.name, **overrides)
    assert 50_000 < param_count(model, (28, 28, 1)) < 1_000_000


def test_data_efficiency_arms_cover_three_families_at_four_sizes():
    spec = load_experiment("data_efficiency")
    assert len(spec.arms) == 12
    for name, arm in spec.arms.items():
        family, subset = name.split("_")
        assert arm.config.endswith(f"configs/fashion_mnist.py:{family}")
        split = arm.overrides["data.train_split"]
        assert split == {"1pct": "train[:1%]", "5pct": "train[:5%]",
                         "20pct": "train[:20%]", "100pct": "train[:90%]"}[subset]
        # validation is carved from train, disjoint from every training subset
        assert arm.overrides["data.eval_split"] == "train[90%:95%]"
