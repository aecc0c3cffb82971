"""Input checks and stochastic-depth schedules shared by the ConvNet baselines."""

from __future__ import annotations

import jax


def check_convnet_images(images: jax.Array, min_size: int, model: str) -> None:
    """Raises a one-line ``ValueError`` unless ``images`` is ``[B, H, W, C]`` with
    ``H, W >= min_size`` (the network's total stride, 32: smaller images vanish)."""
    if images.ndim != 4:
        raise ValueError(f"{model} expects images [B, H, W, C], got shape {tuple(images.shape)}.")
    height, width = images.shape[1:3]
    if height < min_size or width < min_size:
        raise ValueError(
            f"Image size {height}x{width} is too small for {model}: both sides must be at "
            f"least {min_size} (its total stride); upsample the images."
        )


def linear_drop_path_rates(drop_path_rate: float, num_blocks: int, denominator: int) -> list[float]:
    """Rate of block ``i`` is ``drop_path_rate * i / denominator`` for ``i < num_blocks``.

    timm's ResNet / ResNet-V2 use ``denominator = num_blocks - 1`` (0 ... rate), its
    EfficientNet ``denominator = num_blocks`` (the last block stays below ``rate``).
    """
    return [drop_path_rate * i / max(denominator, 1) for i in range(num_blocks)]
