"""SAM and ASAM against the formulas computed by hand on a quadratic."""

import jax
import jax.numpy as jnp
import numpy as np

from mixer_vit.optim.sam import sam_gradients

A = np.array([[3.0, 0.5], [0.5, 1.0]])


def quadratic(params):
    w = params["w"]
    return 0.5 * w @ jnp.asarray(A) @ w, None


def test_sam_gradient_is_the_gradient_at_the_ascent_point():
    w = np.array([1.0, -2.0])
    rho = 0.1
    (_, _), clean, sam = sam_gradients(
        jax.value_and_grad(quadratic, has_aux=True), {"w": jnp.asarray(w)}, rho
    )
    g = A @ w
    e = rho * g / np.linalg.norm(g)
    np.testing.assert_allclose(clean["w"], g, rtol=1e-6)
    np.testing.assert_allclose(sam["w"], A @ (w + e), rtol=1e-6)


def test_adaptive_sam_scales_the_neighbourhood_by_the_weights():
    w = np.array([1.0, -2.0])
    rho, eta = 0.5, 0.01
    (_, _), _, sam = sam_gradients(
        jax.value_and_grad(quadratic, has_aux=True),
        {"w": jnp.asarray(w)},
        rho,
        adaptive=True,
        eta=eta,
    )
    g = A @ w
    t = np.abs(w) + eta
    e = rho * t**2 * g / np.linalg.norm(t * g)
    np.testing.assert_allclose(sam["w"], A @ (w + e), rtol=1e-6)
