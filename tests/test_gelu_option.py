"""The ``gelu`` model option: both forms equal jax.nn.gelu (values and gradients) under
both kernel settings, and a bad value is refused by every model that has the field."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from tiny_models import TINY

from mixer_vit.layers import Mlp
from mixer_vit.layers.gelu import GELU_FORMS, gelu
from mixer_vit.layers.kernels import use_kernels
from mixer_vit.models import create_model

X = jnp.linspace(-6.0, 6.0, 241)


@pytest.mark.parametrize("kernels", ["cpu_tuned", "reference"])
@pytest.mark.parametrize("form", GELU_FORMS)
def test_both_forms_equal_jax_gelu(kernels, form):
    approximate = form == "tanh"
    with use_kernels(kernels):
        value, slope = jax.jvp(lambda x: gelu(x, form), (X,), (jnp.ones_like(X),))
        grad = jax.grad(lambda x: jnp.sum(gelu(x, form)))(X)
    want_value = jax.nn.gelu(X, approximate=approximate)
    want_slope = jax.grad(lambda x: jnp.sum(jax.nn.gelu(x, approximate=approximate)))(X)
    np.testing.assert_allclose(value, want_value, atol=1e-6)
    np.testing.assert_allclose(slope, want_slope, atol=1e-6)
    np.testing.assert_allclose(grad, want_slope, atol=1e-6)


def test_the_two_forms_differ():
    gap = jnp.max(jnp.abs(gelu(X, "tanh") - gelu(X, "exact")))
    assert 1e-4 < float(gap) < 1e-3


def test_mlp_uses_its_form():
    x = jax.random.normal(jax.random.PRNGKey(0), (3, 8))
    mlp = Mlp(16, gelu="tanh")
    variables = mlp.init(jax.random.PRNGKey(1), x, deterministic=True)
    p = variables["params"]
    hidden = jax.nn.gelu(x @ p["fc1"]["kernel"] + p["fc1"]["bias"], approximate=True)
    want = hidden @ p["fc2"]["kernel"] + p["fc2"]["bias"]
    got = mlp.apply(variables, x, deterministic=True)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("family", sorted(TINY) + ["deit"])
def test_bad_value_is_refused(family):
    name, fields = TINY[family] if family in TINY else ("deit_ti16", {})
    assert create_model(name, **fields, gelu="tanh").gelu == "tanh"
    with pytest.raises(ValueError, match="gelu must be one of exact, tanh, got 'erf'"):
        create_model(name, **fields, gelu="erf")
