"""Power iteration for the top Hessian eigenvalue, on quadratics whose spectrum is chosen."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mixer_vit.metrics.hessian import (
    hessian_vector_product,
    largest_hessian_eigenvalue,
    top_hessian_eigenvalue,
)


def matrix_with_spectrum(eigenvalues, seed=0):
    """A = Q diag(eigenvalues) Q^T with Q a random orthogonal basis; returns (A, Q)."""
    n = len(eigenvalues)
    q, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(n, n)))
    return (q * np.asarray(eigenvalues)) @ q.T, q


def quadratic(a):
    a = jnp.asarray(a, jnp.float32)
    return lambda x: 0.5 * x @ a @ x


SPECTRUM = [6.0, 3.0, 2.5, 1.0, 0.5, 0.1, -0.7, -2.0, 0.0, 0.05, 1.5, -1.2]


def test_hvp_is_a_times_v():
    a, _ = matrix_with_spectrum(SPECTRUM)
    rng = np.random.default_rng(1)
    x, v = rng.normal(size=(2, len(SPECTRUM))).astype(np.float32)
    hv = hessian_vector_product(quadratic(a), jnp.asarray(x), jnp.asarray(v))
    np.testing.assert_allclose(np.asarray(hv), a @ v, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("top", [6.0, -6.0])  # the largest magnitude, with its sign
def test_top_eigenvalue_and_vector_of_a_known_spectrum(top):
    spectrum = [top, *SPECTRUM[1:]]
    a, q = matrix_with_spectrum(spectrum)
    point = jnp.asarray(np.random.default_rng(2).normal(size=len(spectrum)), jnp.float32)
    result = top_hessian_eigenvalue(
        quadratic(a), point, jax.random.PRNGKey(0), num_iterations=100, tolerance=1e-7
    )
    assert abs(float(result.eigenvalue) - top) < 1e-4 * abs(top)
    alignment = abs(float(np.asarray(result.vector) @ q[:, 0]))  # unit vectors
    assert alignment > 1 - 1e-4
    assert 2 <= int(result.iterations) < 100  # stopped by the tolerance


def test_iteration_cap_and_determinism():
    a, _ = matrix_with_spectrum(SPECTRUM)
    args = (quadratic(a), jnp.zeros(len(SPECTRUM)), jax.random.PRNGKey(3))
    first = top_hessian_eigenvalue(*args, num_iterations=3, tolerance=0.0)
    again = top_hessian_eigenvalue(*args, num_iterations=3, tolerance=0.0)
    assert int(first.iterations) == 3
    assert float(first.eigenvalue) == float(again.eigenvalue)
    # three products: the estimate is the Rayleigh quotient of the start times A^2
    start_key = jax.random.split(jax.random.PRNGKey(3), 1)[0]  # one leaf, one key
    v = np.asarray(jax.random.normal(start_key, (len(SPECTRUM),)), np.float64)
    v = a @ a @ v
    v /= np.linalg.norm(v)
    np.testing.assert_allclose(float(first.eigenvalue), v @ a @ v, rtol=1e-4)


def test_pytree_params():
    """A quadratic over a dict of a matrix and a vector: the spectrum of the whole
    flattened parameter vector, which the blocks split between them."""
    a, _ = matrix_with_spectrum([5.0, 1.0, 0.5, -0.3, 2.0, 0.2, 0.1, 4.0])
    flat = jnp.asarray(a, jnp.float32)

    def loss(tree):
        x = jnp.concatenate([tree["w"].reshape(-1), tree["b"]])
        return 0.5 * x @ flat @ x

    params = {"w": jnp.ones((2, 3)), "b": jnp.zeros(2)}
    result = top_hessian_eigenvalue(
        loss, params, jax.random.PRNGKey(4), num_iterations=200, tolerance=1e-8
    )
    assert abs(float(result.eigenvalue) - 5.0) < 5e-4
    assert jax.tree.structure(result.vector) == jax.tree.structure(params)
    norm = np.sqrt(sum(float(jnp.sum(x**2)) for x in jax.tree.leaves(result.vector)))
    assert abs(norm - 1.0) < 1e-5


def test_rejects_zero_iterations():
    with pytest.raises(ValueError, match="num_iterations"):
        top_hessian_eigenvalue(lambda x: jnp.sum(x**2), jnp.ones(2), jax.random.PRNGKey(0), 0)


def test_largest_eigenvalue_when_a_negative_one_dominates():
    spectrum = [-8.0, 5.0, 3.0, 1.0, -0.5, 0.2]
    a, q = matrix_with_spectrum(spectrum, seed=5)
    args = (quadratic(a), jnp.zeros(len(spectrum)), jax.random.PRNGKey(6))
    dominant = top_hessian_eigenvalue(*args, num_iterations=300, tolerance=1e-8)
    assert abs(float(dominant.eigenvalue) + 8.0) < 1e-3
    largest = largest_hessian_eigenvalue(*args, num_iterations=300, tolerance=1e-8)
    assert abs(float(largest.eigenvalue) - 5.0) < 1e-3
    assert abs(float(np.asarray(largest.vector) @ q[:, 1])) > 1 - 1e-4
    assert int(largest.iterations) > int(dominant.iterations)  # both runs counted
    positive = largest_hessian_eigenvalue(quadratic(a * -1.0), *args[1:], 300, 1e-8)
    assert abs(float(positive.eigenvalue) - 8.0) < 1e-3  # already the largest: one run
    assert int(positive.iterations) < 300
