"""Forward-mode autodiff (jax.jvp, jax.jacfwd) through every model family with the default
settings (on CPU: the CPU-tuned kernels, whose derivative rules are custom_jvp rules).

Oracles: central finite differences for the jvp, and reverse mode (jax.jacrev) for the
forward-mode Jacobian of the logits with respect to a few input pixels."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from tiny_models import TINY, images, random_variables, tiny_model

from mixer_vit.layers.kernels import cpu_tuned_active

FINITE_DIFFERENCE_STEP = 1e-2


@pytest.mark.parametrize("family", sorted(TINY))
def test_jvp_and_jacfwd_with_default_settings(family):
    assert cpu_tuned_active()  # the default on CPU: the tuned kernels are under test
    model, x = tiny_model(family), jnp.asarray(images())
    variables = random_variables(model, x)
    direction = jnp.asarray(images(seed=1))

    def logits(x):
        return model.apply(variables, x)  # [B, 5]

    @jax.jit
    def derivatives(x, direction):
        def pixel_logits(delta):  # delta [3]: one pixel's channels of image 0 -> [B, 5]
            return logits(x.at[0, 3, 5].add(delta))

        _, tangent = jax.jvp(logits, (x,), (direction,))
        step = FINITE_DIFFERENCE_STEP
        central = (logits(x + step * direction) - logits(x - step * direction)) / (2 * step)
        zero = jnp.zeros(3)
        return tangent, central, jax.jacfwd(pixel_logits)(zero), jax.jacrev(pixel_logits)(zero)

    tangent, central, forward, reverse = derivatives(x, direction)
    assert float(jnp.max(jnp.abs(tangent))) > 1e-3  # a tangent that does not vanish
    scale = float(jnp.max(jnp.abs(central)))
    np.testing.assert_allclose(tangent, central, atol=1e-2 * scale)
    assert forward.shape == (2, 5, 3)
    assert float(jnp.max(jnp.abs(forward[0]))) > 1e-4
    np.testing.assert_array_equal(forward[1], 0.0)  # image 1 does not see image 0's pixel
    atol = 1e-5 * float(jnp.max(jnp.abs(reverse)))
    np.testing.assert_allclose(forward, reverse, rtol=1e-4, atol=atol)
