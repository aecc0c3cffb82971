"""The Fourier (FNet) token mixer: FFT and DFT-matrix forms against each other and
against the formula written out in NumPy (explicit DFT matrices, not np.fft)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mixer_vit.layers import FourierMixer, get_mixer, make_mixer


def numpy_fnet(x: np.ndarray, normalization: str) -> np.ndarray:
    """``Re(W_N X W_D)`` per example with ``W_M[m, k] = exp(-2 pi i m k / M)``, in complex128."""
    _, tokens, dim = x.shape

    def dft(size):
        m = np.arange(size)[:, None]
        k = np.arange(size)[None, :]
        return np.exp(-2j * np.pi * m * k / size)

    y = np.einsum("nm,bmd,de->bne", dft(tokens), x.astype(np.complex128), dft(dim)).real
    return y / np.sqrt(tokens * dim) if normalization == "ortho" else y


def apply(x, **kwargs):
    return np.asarray(make_mixer("fourier", **kwargs).apply({}, jnp.asarray(x), deterministic=True))


@pytest.mark.parametrize("normalization", ["ortho", "none"])
@pytest.mark.parametrize("shape", [(2, 7, 6), (1, 16, 12)])
def test_fft_and_matrix_forms_equal_numpy(shape, normalization):
    x = np.random.default_rng(0).normal(size=shape).astype(np.float32)
    expected = numpy_fnet(x, normalization)
    fft = apply(x, implementation="fft", normalization=normalization)
    matrix = apply(x, implementation="dft_matrix", normalization=normalization)
    scale = 1.0 if normalization == "ortho" else np.sqrt(shape[1] * shape[2])
    np.testing.assert_allclose(fft, expected, atol=1e-5 * scale)
    np.testing.assert_allclose(matrix, expected, atol=1e-5 * scale)
    np.testing.assert_allclose(fft, matrix, atol=1e-5 * scale)


def test_registered_defaults_and_errors():
    assert get_mixer("fourier") is FourierMixer
    mixer = make_mixer("fourier")
    assert (mixer.implementation, mixer.normalization) == ("fft", "ortho")
    x = jnp.ones((1, 4, 4))
    with pytest.raises(ValueError, match="implementation must be one of fft, dft_matrix"):
        make_mixer("fourier", implementation="dft").apply({}, x, deterministic=True)
    with pytest.raises(ValueError, match="normalization must be one of ortho, none"):
        make_mixer("fourier", normalization="forward").apply({}, x, deterministic=True)


def test_ortho_keeps_the_scale_and_has_no_parameters():
    x = np.random.default_rng(1).normal(size=(4, 64, 32)).astype(np.float32)
    assert make_mixer("fourier").init(jax.random.key(0), jnp.asarray(x), deterministic=True) == {}
    y = apply(x)
    # the real part of a unitary transform of white noise keeps about half the variance
    assert 0.35 < y.var() / x.var() < 0.65


@pytest.mark.parametrize("implementation", ["fft", "dft_matrix"])
def test_jit_grad_and_bfloat16(implementation):
    x = jnp.asarray(np.random.default_rng(2).normal(size=(2, 9, 8)).astype(np.float32))
    mixer = make_mixer("fourier", implementation=implementation)
    f = jax.jit(lambda a: mixer.apply({}, a, deterministic=True))
    np.testing.assert_allclose(np.asarray(f(x)), numpy_fnet(np.asarray(x), "ortho"), atol=1e-5)

    # the map is linear and self-adjoint up to the transpose of each DFT matrix, which is
    # symmetric, so the gradient of sum(y * w) is the same transform applied to w
    w = jnp.asarray(np.random.default_rng(3).normal(size=x.shape).astype(np.float32))
    grad = jax.jit(jax.grad(lambda a: (mixer.apply({}, a, deterministic=True) * w).sum()))(x)
    np.testing.assert_allclose(np.asarray(grad), numpy_fnet(np.asarray(w), "ortho"), atol=1e-5)

    low = make_mixer("fourier", implementation=implementation, dtype=jnp.bfloat16)
    y = jax.jit(lambda a: low.apply({}, a, deterministic=True))(x.astype(jnp.bfloat16))
    assert y.dtype == jnp.bfloat16 and y.shape == x.shape
    np.testing.assert_allclose(
        np.asarray(y, np.float32), numpy_fnet(np.asarray(x), "ortho"), atol=0.05
    )
