"""The layer-kernel switch (mixer_vit.layers.kernels): its semantics, that both kernel
sets build the same parameters, and that the CPU-tuned gradients equal the reference
(plain autodiff) gradients."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from tiny_models import images, random_variables, tiny_model

from mixer_vit.layers.attention_implementation import (
    auto_attention_implementation,
    cpu_tuned_kernels,
)
from mixer_vit.layers.image_groups import auto_image_group
from mixer_vit.layers.kernels import (
    KERNELS,
    check_kernels,
    cpu_tuned_active,
    kernels_setting,
    resolved_kernels,
    set_kernels,
    use_kernels,
)


def test_switch_semantics():
    assert KERNELS == ("auto", "reference", "cpu_tuned")
    assert kernels_setting() == "auto"
    assert jax.default_backend() == "cpu"
    assert resolved_kernels() == "cpu_tuned" and cpu_tuned_active()  # auto on CPU
    with use_kernels("reference"):
        assert kernels_setting() == "reference" and not cpu_tuned_active()
        with use_kernels("cpu_tuned"):
            assert cpu_tuned_active()
        assert resolved_kernels() == "reference"
    assert kernels_setting() == "auto"
    set_kernels("reference")
    try:
        assert resolved_kernels() == "reference"
    finally:
        set_kernels("auto")


def test_bad_name_is_a_one_line_error():
    expected = "kernels must be one of auto, reference, cpu_tuned, got 'fast'"
    with pytest.raises(ValueError, match=expected):
        check_kernels("fast")
    with pytest.raises(ValueError):
        set_kernels("cpu")
    assert kernels_setting() == "auto"


def test_config_value_sets_the_switch():
    """``model.kernels`` from a config reaches the layer switch; a bad value is a
    ``UserError`` (one line, exit 2 on the command line)."""
    from mixer_vit.errors import UserError
    from mixer_vit.train.kernels_switch import apply_kernels

    try:
        apply_kernels("reference")
        assert resolved_kernels() == "reference" and not cpu_tuned_active()
        with pytest.raises(UserError, match="model.kernels must be one of"):
            apply_kernels("fast")
        assert kernels_setting() == "reference"
    finally:
        set_kernels("auto")


def test_cpu_choices_follow_the_switch():
    bf16_group = lambda: auto_image_group(32, 2**20, jnp.bfloat16)  # noqa: E731
    assert bf16_group() == 16
    with use_kernels("reference"):
        assert bf16_group() == 0
    shape = dict(heads=2, tokens=16, head_dim=8, training=True, dropout_active=False)
    assert cpu_tuned_kernels()
    assert auto_attention_implementation(jnp.float32, **shape) == "blocked"
    with use_kernels("reference"):
        assert not cpu_tuned_kernels()
        assert auto_attention_implementation(jnp.float32, **shape) == "xla"


def _jaxpr(fn, *args) -> str:
    # A new function object each time: JAX caches traces by function, and the switch is
    # read when a function is traced.
    return str(jax.make_jaxpr(lambda *a: fn(*a))(*args))


def test_reference_traces_no_custom_rules_and_cpu_tuned_does():
    model = tiny_model("vit")
    x = images()
    variables = random_variables(model, x)
    loss = lambda p: jnp.sum(model.apply({"params": p}, x) ** 2)  # noqa: E731
    assert "custom_jvp_call" in _jaxpr(loss, variables["params"])
    with use_kernels("reference"):
        forward = _jaxpr(loss, variables["params"])
    assert "custom_jvp_call" not in forward and "custom_vjp_call" not in forward


@pytest.mark.parametrize("family", ["vit", "mixer"])
def test_same_parameters_either_way(family):
    model, x = tiny_model(family), images()
    tuned = model.init(jax.random.PRNGKey(0), x)
    with use_kernels("reference"):
        reference = model.init(jax.random.PRNGKey(0), x)
    assert jax.tree.structure(tuned) == jax.tree.structure(reference)
    for a, b in zip(jax.tree.leaves(tuned), jax.tree.leaves(reference)):
        assert a.shape == b.shape and a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
    # a checkpoint of one loads into the other: same logits on the same variables
    variables = random_variables(model, x)
    logits = model.apply(variables, x)
    with use_kernels("reference"):
        np.testing.assert_allclose(model.apply(variables, x), logits, rtol=1e-5, atol=1e-5)


def _relative_error(got, want, scale: float) -> float:
    """Max abs difference over the leaf's largest entry, or over 1% of ``scale`` (the
    largest gradient entry of the model) for a leaf whose gradient is smaller (e.g. the
    Mixer's token-mixing output bias, whose gradient is 0 up to rounding: every
    LayerNorm after it removes a per-token constant)."""
    floor = max(float(jnp.max(jnp.abs(want))), 1e-2 * scale)
    return float(jnp.max(jnp.abs(got - want))) / floor


@pytest.mark.parametrize("family", ["vit", "mixer", "resmlp", "cait"])
def test_tuned_gradients_equal_reference_gradients(family):
    model, x = tiny_model(family), images()
    variables = random_variables(model, x)
    labels = jnp.arange(x.shape[0]) % 5

    def loss(params, x):
        logits = model.apply({**variables, "params": params}, x, train=True)
        return -jnp.mean(jax.nn.log_softmax(logits)[jnp.arange(x.shape[0]), labels])

    grad = jax.jit(jax.grad(loss, argnums=(0, 1)))
    tuned = grad(variables["params"], x)
    with use_kernels("reference"):
        reference = jax.jit(jax.grad(loss, argnums=(0, 1)))(variables["params"], x)
    scale = max(float(jnp.max(jnp.abs(g))) for g in jax.tree.leaves(reference))
    paths = jax.tree_util.tree_leaves_with_path(reference)
    for (path, want), got in zip(paths, jax.tree.leaves(tuned)):
        assert _relative_error(got, want, scale) <= 1e-5, jax.tree_util.keystr(path)
