"""Batch-level augmentation that runs on device inside the jitted train step.

Each example is mixed with its partner in the reversed batch (``x[::-1]``), as timm does,
so no extra randomness or gather is needed for the pairing. Targets are probabilities
``[B, K]``; mixing weights them by the share of each partner in the input.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def _mix_targets(targets: jax.Array, lam: jax.Array) -> jax.Array:
    return lam * targets + (1.0 - lam) * targets[::-1]


def mixup(rng: jax.Array, images: jax.Array, targets: jax.Array, alpha: float):
    """x' = lam x + (1 - lam) x[::-1], same for targets, lam ~ Beta(alpha, alpha).

    Args:
      images: [B, H, W, C]; targets: float [B, K].
    Returns:
      (images [B, H, W, C], targets [B, K], lam scalar).
    """
    lam = jax.random.beta(rng, alpha, alpha)
    mixed = lam * images + (1.0 - lam) * images[::-1]
    return mixed.astype(images.dtype), _mix_targets(targets, lam), lam


def cutmix_box(rng: jax.Array, height: int, width: int, lam: jax.Array) -> jax.Array:
    """A box mask [H, W] (1 inside) of about (1 - lam) of the image, centred uniformly and
    clipped at the borders (CutMix, Yun et al. 2019)."""
    cut = jnp.sqrt(1.0 - lam)
    cut_h, cut_w = jnp.round(height * cut), jnp.round(width * cut)
    key_y, key_x = jax.random.split(rng)
    cy = jax.random.randint(key_y, (), 0, height)
    cx = jax.random.randint(key_x, (), 0, width)
    y0, y1 = jnp.clip(cy - cut_h // 2, 0, height), jnp.clip(cy + cut_h // 2, 0, height)
    x0, x1 = jnp.clip(cx - cut_w // 2, 0, width), jnp.clip(cx + cut_w // 2, 0, width)
    rows = jnp.arange(height)[:, None]
    cols = jnp.arange(width)[None, :]
    return ((rows >= y0) & (rows < y1) & (cols >= x0) & (cols < x1)).astype(jnp.float32)


def cutmix(rng: jax.Array, images: jax.Array, targets: jax.Array, alpha: float):
    """Pastes a box of x[::-1] into x; targets weighted by the pasted area's share.

    lam ~ Beta(alpha, alpha) sets the box size; the returned lam is recomputed from the
    box actually pasted after clipping: 1 - area / (H * W).
    Args:
      images: [B, H, W, C]; targets: float [B, K].
    Returns:
      (images [B, H, W, C], targets [B, K], lam scalar).
    """
    key_lam, key_box = jax.random.split(rng)
    lam = jax.random.beta(key_lam, alpha, alpha)
    _, height, width, _ = images.shape
    box = cutmix_box(key_box, height, width, lam)[None, :, :, None]
    mixed = images * (1.0 - box) + images[::-1] * box
    lam = 1.0 - jnp.mean(box)
    return mixed.astype(images.dtype), _mix_targets(targets, lam), lam


def mixup_or_cutmix(
    rng: jax.Array,
    images: jax.Array,
    targets: jax.Array,
    *,
    mixup_alpha: float,
    cutmix_alpha: float,
    switch_prob: float = 0.5,
):
    """One of the two per batch: cutmix with probability ``switch_prob`` when both are on
    (alpha > 0), else whichever is on; identity when neither is."""
    if mixup_alpha <= 0 and cutmix_alpha <= 0:
        return images, targets, jnp.float32(1.0)
    if cutmix_alpha <= 0:
        return mixup(rng, images, targets, mixup_alpha)
    if mixup_alpha <= 0:
        return cutmix(rng, images, targets, cutmix_alpha)
    key_switch, key_mix = jax.random.split(rng)
    use_cutmix = jax.random.bernoulli(key_switch, switch_prob)
    return jax.lax.cond(
        use_cutmix,
        lambda: cutmix(key_mix, images, targets, cutmix_alpha),
        lambda: mixup(key_mix, images, targets, mixup_alpha),
    )


def random_erasing(
    rng: jax.Array, images: jax.Array, *, prob: float, area: tuple[float, float], value: float = 0.0
) -> jax.Array:
    """Cutout / random erasing: with probability ``prob`` per example, a square covering a
    uniform fraction in ``area`` of the image (centred uniformly, clipped) is set to
    ``value``. images: [B, H, W, C] -> same."""
    batch, height, width, _ = images.shape
    key_apply, key_area, key_y, key_x = jax.random.split(rng, 4)
    apply = jax.random.bernoulli(key_apply, prob, (batch,))
    fraction = jax.random.uniform(key_area, (batch,), minval=area[0], maxval=area[1])
    half_h = jnp.round(height * jnp.sqrt(fraction)) // 2
    half_w = jnp.round(width * jnp.sqrt(fraction)) // 2
    cy = jax.random.randint(key_y, (batch,), 0, height)
    cx = jax.random.randint(key_x, (batch,), 0, width)
    rows = jnp.arange(height)[None, :, None]
    cols = jnp.arange(width)[None, None, :]
    inside = (
        (rows >= (cy - half_h)[:, None, None])
        & (rows < (cy + half_h)[:, None, None])
        & (cols >= (cx - half_w)[:, None, None])
        & (cols < (cx + half_w)[:, None, None])
    )
    erase = (inside & apply[:, None, None])[..., None]
    return jnp.where(erase, jnp.asarray(value, images.dtype), images)
