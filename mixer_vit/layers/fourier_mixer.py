"""FNet's token mixer: the real part of a 2-D discrete Fourier transform (no parameters).

FNet (Lee-Thorp et al., 2021) replaces self-attention by ``Re(F_seq(F_hidden(x)))``: a
DFT along the hidden axis, then along the token axis, keeping the real part. With
``X [N, D]`` and the DFT matrices ``W_M[m, k] = exp(-2 pi i m k / M)``, that is

    Y = Re(W_N X W_D) = C_N X C_D - S_N X S_D,
    C_M[m, k] = cos(2 pi m k / M),  S_M[m, k] = sin(2 pi m k / M).

Normalisation: FNet uses the *unnormalised* DFT (NumPy's ``norm="backward"`` forward
transform) inside a post-norm Transformer. This project's MetaFormer is pre-norm, where
an unnormalised transform would add terms ~``sqrt(N * D)`` times larger than its input
to the residual stream in every block, so the default here is ``normalization="ortho"``:
the same transform scaled by ``1 / sqrt(N * D)`` (unitary, variance-preserving).
``normalization="none"`` is FNet's exact formula. Both implementations use the same
normalisation and agree to float rounding.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from .mixers import register_mixer

IMPLEMENTATIONS = ("fft", "dft_matrix")
NORMALIZATIONS = ("ortho", "none")


def dft_cos_sin(size: int) -> tuple[np.ndarray, np.ndarray]:
    """``(C, S)``, each ``[size, size]`` float64: ``cos`` and ``sin`` of ``2 pi m k / size``.

    ``m * k`` is reduced modulo ``size`` in integers first, so large sizes keep full
    precision.
    """
    index = np.arange(size)
    angle = 2.0 * np.pi * (np.outer(index, index) % size) / size
    return np.cos(angle), np.sin(angle)


@register_mixer("fourier")
class FourierMixer(nn.Module):
    """``Re(DFT_2d(x))`` over the token and hidden axes, ``[B, N, D] -> [B, N, D]``.

    Attributes:
      implementation: ``"fft"`` (``jnp.fft.fft2``, computed in float32 because XLA's FFT
        has no bfloat16) or ``"dft_matrix"`` (two real matrix products with the cosine and
        sine matrices; runs in ``dtype`` on any accelerator's matrix unit, and is often
        faster than an FFT for small ``N``, ``D``).
      normalization: ``"ortho"`` (scale ``1 / sqrt(N * D)``, default) or ``"none"``
        (FNet's unnormalised DFT); see the module docstring.
    Mixes all ``N`` tokens alike (a class token included); ``grid`` is ignored.
    """

    implementation: str = "fft"
    normalization: str = "ortho"
    dtype: Any = jnp.float32

    def __call__(
        self, x: jax.Array, *, deterministic: bool, grid: tuple[int, int] | None = None
    ) -> jax.Array:
        del deterministic, grid  # no randomness; mixes all tokens alike
        if self.implementation not in IMPLEMENTATIONS:
            raise ValueError(
                f"Fourier implementation must be one of {', '.join(IMPLEMENTATIONS)}, "
                f"got '{self.implementation}'."
            )
        if self.normalization not in NORMALIZATIONS:
            raise ValueError(
                f"Fourier normalization must be one of {', '.join(NORMALIZATIONS)}, "
                f"got '{self.normalization}'."
            )
        if self.implementation == "fft":
            norm = "ortho" if self.normalization == "ortho" else "backward"
            y = jnp.fft.fft2(x.astype(jnp.float32), axes=(1, 2), norm=norm).real
            return y.astype(self.dtype)
        return self._matrix_form(x)

    def _matrix_form(self, x: jax.Array) -> jax.Array:
        _, tokens, dim = x.shape
        cos_n, sin_n = dft_cos_sin(tokens)
        cos_d, sin_d = dft_cos_sin(dim)
        if self.normalization == "ortho":
            scale = 1.0 / np.sqrt(tokens * dim)
            cos_d, sin_d = cos_d * scale, sin_d * scale
        x = x.astype(self.dtype)
        as_dtype = lambda a: jnp.asarray(a, self.dtype)
        real = jnp.einsum("nm,bmd,de->bne", as_dtype(cos_n), x, as_dtype(cos_d))
        imag = jnp.einsum("nm,bmd,de->bne", as_dtype(sin_n), x, as_dtype(sin_d))
        return real - imag
