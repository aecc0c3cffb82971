"""A distilled DeiT's logits outside training: both heads averaged, the class-token head or
the distillation-token head (``inference_head``, DeiT Table 3; config key
``model.inference_head``), and bad values refused."""

import jax
import numpy as np
import pytest
from conftest import load_default_config

from mixer_vit.errors import UserError
from mixer_vit.models import create_model
from mixer_vit.train.run_model import build_model

TINY = {"patch_size": 4, "depth": 1, "embed_dim": 32, "mixer_kwargs": {"num_heads": 2},
        "num_classes": 5}
IMAGES = np.random.default_rng(1).normal(size=(2, 16, 16, 3)).astype(np.float32)


def test_each_inference_head_returns_its_logits():
    distilling = create_model("deit_ti16_distilled", distilled_training=True, **TINY)
    shapes = jax.eval_shape(lambda: distilling.init(jax.random.key(0), IMAGES))["params"]
    rng = np.random.default_rng(0)  # random heads: zero-initialised ones would all agree
    params = jax.tree.map(lambda a: 0.1 * rng.normal(size=a.shape).astype(np.float32), shapes)
    # Drop rates are 0, so the training pass is the eval computation with both heads apart.
    cls_logits, dist_logits = distilling.apply({"params": params}, IMAGES, train=True)
    assert not np.allclose(cls_logits, dist_logits, atol=1e-3)
    want = {"class": cls_logits, "distillation": dist_logits,
            "both": (np.asarray(cls_logits) + np.asarray(dist_logits)) / 2}
    for head, expected in want.items():
        model = create_model("deit_ti16_distilled", inference_head=head, **TINY)
        got = model.apply({"params": params}, IMAGES, train=False)
        np.testing.assert_allclose(got, expected, atol=1e-5, err_msg=head)
    default = create_model("deit_ti16_distilled", **TINY).apply({"params": params}, IMAGES)
    np.testing.assert_allclose(default, want["both"], atol=1e-5)
    # Training with a teacher still sees both heads whatever the inference head.
    cls_only = distilling.clone(inference_head="class")
    pair = cls_only.apply({"params": params}, IMAGES, train=True)
    np.testing.assert_allclose(pair[1], dist_logits, atol=1e-5)


def test_config_key_picks_the_head_and_bad_values_are_one_line_user_errors():
    config = load_default_config()
    assert config.model.inference_head == "both"
    config.model.name = "deit_ti16_distilled"
    config.model.inference_head = "class"
    assert build_model(config, num_classes=10).inference_head == "class"
    for name, head, expected in [
        ("deit_ti16_distilled", "cls",
         "model.inference_head must be one of both, class, distillation, got 'cls'"),
        ("vit_ti16", "distillation",
         "picks a head of the distillation token, which vit_ti16 does not have"),
    ]:
        config.model.name, config.model.inference_head = name, head
        with pytest.raises(UserError) as error:
            build_model(config, num_classes=10)
        assert "\n" not in str(error.value) and expected in str(error.value)
    config.model.inference_head = "both"  # the default suits every model
    assert build_model(config, num_classes=10).num_classes == 10
    with pytest.raises(ValueError, match="inference_head must be one of"):
        create_model("deit_ti16_distilled", inference_head="cls", **TINY)
