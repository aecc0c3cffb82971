"""BatchBALD (Kirsch, van Amersfoort & Gal, 2019): greedy batch selection maximising the
mutual information between the batch's joint labels and the model parameters,

    a({x_1..x_m}) = H[y_1..y_m] - sum_i E_s H[y_i | w_s],

with the parameter posterior represented by the S MC-dropout samples (equal weights), so
``p(y_1..y_m) = 1/S sum_s prod_i p_s(y_i | x_i)``.

Greedy step. With chosen points 1..m and a configuration c of their labels,
``H[y_1..m, y] = H[y_1..m] + sum_c p(c) H[y | c]`` where
``p(y | c) = sum_s W[c, s] p_s(y)`` and ``W[c, s] = p_s(c) / sum_s' p_s'(c)`` is the
posterior over samples given c. The first term is the same for every candidate, so each
step takes the candidate with the largest

    gain(x) = sum_c pi_c H[sum_s W[c, s] p_s(y | x)] - mean_s H[p_s(y | x)],

the exact increase of a. With no point chosen (one empty configuration, W uniform) this is
BALD, so a batch of one is BALD's top pick.

Configurations. While the K^m label configurations of the chosen points (those of
non-zero probability) number at most ``max_configs``, they are enumerated (exact, pi_c =
p(c)). Beyond that, as in the paper, M = ``max_configs`` configurations are sampled from
p(y_1..m) at every step (draw a sample s uniformly, then each y_i from p_s), pi_c = 1/M:
the gain is then an unbiased Monte-Carlo estimate. Cost per pick: N x C x S x K
multiply-adds and N x C x K logarithms (C <= max_configs), on the default JAX device in
blocks of candidates; with K = 10 the enumeration is exact for the first 3 picks at the
default 1024.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from mixer_vit.active.acquisition.availability import Availability
from mixer_vit.active.acquisition.uncertainty import entropy_of

MAX_CONFIGS = 1024
_BLOCK_ELEMENTS = 1 << 24  # C x candidates x K floats per device call


@jax.jit
def _conditional_entropy(weights, pi, probs):
    """weights [C, S], pi [C], probs [S, B, K] -> [B]: sum_c pi_c H[sum_s W[c,s] p_s]."""
    q = jnp.einsum("cs,sbk->cbk", weights, probs)
    h = -jnp.sum(q * jnp.log(jnp.where(q > 0, q, 1.0)), axis=-1)
    return pi @ h


def _next_pow2(n: int) -> int:
    return 1 << max(0, (n - 1).bit_length())


def conditional_entropy(weights: np.ndarray, pi: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """weights [C, S], pi [C], probs [S, N, K] -> [N] float64 ``sum_c pi_c H[y | c]``.
    Runs in float32 blocks whose shapes are rounded up to powers of two (few compiles)."""
    s, n, k = probs.shape
    c_pad = _next_pow2(len(pi))
    w = np.full((c_pad, s), 1.0 / s, np.float32)
    w[: len(pi)] = weights
    p = np.zeros(c_pad, np.float32)
    p[: len(pi)] = pi
    block = min(_next_pow2(n), max(1, _BLOCK_ELEMENTS // (c_pad * k)))
    out = np.empty(n)
    for start in range(0, n, block):
        part = probs[:, start : start + block]
        real = part.shape[1]
        if real < block:
            part = np.concatenate([part, np.zeros((s, block - real, k), part.dtype)], axis=1)
        out[start : start + real] = np.asarray(_conditional_entropy(w, p, part))[:real]
    return out


def _softmax_rows(log_p: np.ndarray) -> np.ndarray:
    top = log_p.max(axis=1, keepdims=True)
    e = np.exp(log_p - top)
    return e / e.sum(axis=1, keepdims=True)


def _enumerated(log_p: np.ndarray, log_px: np.ndarray) -> np.ndarray:
    """All configurations extended by the new point's K labels, zero-probability ones
    dropped: log_p [C, S], log_px [S, K] -> [C', S] (C' <= C K)."""
    extended = (log_p[:, None, :] + log_px.T[None, :, :]).reshape(-1, log_p.shape[1])
    return extended[np.isfinite(extended).any(axis=1)]


def _sampled(log_probs_chosen: np.ndarray, m: int, rng: np.random.Generator) -> np.ndarray:
    """m configurations drawn from p(y_1..y_n): log_probs_chosen [S, n, K] -> log p_s(c)
    [m, S]."""
    s, n, k = log_probs_chosen.shape
    sample = rng.integers(s, size=m)
    p_of_sample = np.exp(log_probs_chosen[sample])  # [m, n, K]
    cdf = np.cumsum(p_of_sample, axis=2)
    u = rng.random((m, n, 1)) * cdf[:, :, -1:]
    labels = np.minimum((cdf <= u).sum(axis=2), k - 1)  # [m, n]
    picked = log_probs_chosen[:, np.arange(n)[None, :], labels]  # [S, m, n]
    return picked.sum(axis=2).T


def batchbald(
    probs: np.ndarray,
    k: int,
    *,
    rng: np.random.Generator,
    max_configs: int = MAX_CONFIGS,
    availability: Availability | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """probs [S, N, K] -> (indices [k] in pick order, gains [k] float64: the increase of
    the BatchBALD objective at each pick; their cumulative sum is a of the first picks,
    exact while enumerating). Ties go to the lowest index."""
    probs = np.asarray(probs, np.float32)
    s, n, _ = probs.shape
    with np.errstate(divide="ignore"):
        log_probs = np.log(probs.astype(np.float64))
    expected_entropy = entropy_of(probs).mean(axis=0)  # [N] mean_s H[p_s]
    availability = availability or Availability(n)
    log_p = np.zeros((1, s))  # log p_s(c) of the configurations
    enumerating = True
    chosen, gains = [], []
    for _ in range(k):
        weights = _softmax_rows(log_p)
        if enumerating:
            pi = np.exp(log_p).mean(axis=1)
        else:
            pi = np.full(len(log_p), 1.0 / len(log_p))
        gain = conditional_entropy(weights, pi, probs) - expected_entropy
        index = int(np.argmax(np.where(availability.available, gain, -np.inf)))
        chosen.append(index)
        gains.append(float(gain[index]))
        availability.take(index)
        if enumerating:
            extended = _enumerated(log_p, log_probs[:, index])
            enumerating = len(extended) <= max_configs
        if enumerating:
            log_p = extended
        else:
            log_p = _sampled(log_probs[:, chosen], max_configs, rng)
    return np.asarray(chosen, np.int64), np.asarray(gains)
