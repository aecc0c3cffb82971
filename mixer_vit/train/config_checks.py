"""Checks a run config before anything is built or compiled (fails in milliseconds)."""

from __future__ import annotations

import ml_collections

from mixer_vit.errors import UserError
from mixer_vit.train.sharpness import sharpness_settings


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise UserError(message)


def check_config(config: ml_collections.ConfigDict) -> None:
    """Raises ``UserError`` naming the first bad value and how to fix it."""
    train, optim = config.train, config.optim
    _require(
        isinstance(config.model.name, str) and config.model.name,
        "config.model.name is empty; set --config.model.name (see `mixer-vit models`)",
    )
    _require(
        train.global_batch_size > 0,
        f"train.global_batch_size must be positive, got {train.global_batch_size}",
    )
    _require(train.num_epochs > 0, f"train.num_epochs must be positive, got {train.num_epochs}")
    _require(
        train.checkpoint_every_steps > 0,
        f"train.checkpoint_every_steps must be positive, got {train.checkpoint_every_steps}",
    )
    _require(
        train.log_every_steps > 0,
        f"train.log_every_steps must be positive, got {train.log_every_steps}",
    )
    _require(
        train.halt_after_steps is None or train.halt_after_steps > 0,
        f"train.halt_after_steps must be positive or unset, got {train.halt_after_steps}",
    )
    _require(optim.lr > 0, f"optim.lr must be positive, got {optim.lr}")
    _require(optim.weight_decay >= 0, f"optim.weight_decay must be >= 0, got {optim.weight_decay}")
    es = config.early_stopping
    _require(es.patience >= 0, f"early_stopping.patience must be >= 0, got {es.patience}")
    _require(
        es.metric in ("accuracy", "loss"),
        f"early_stopping.metric must be accuracy or loss, got {es.metric!r}",
    )
    _require(
        optim.plateau.factor > 0, f"optim.plateau.factor must be > 0, got {optim.plateau.factor}"
    )
    _require(
        0.0 <= config.loss.label_smoothing < 1.0,
        f"loss.label_smoothing must be in [0, 1), got {config.loss.label_smoothing}",
    )
    sharpness_settings(config)  # sharpness.examples / iterations / tolerance


def check_image_size(image_size: tuple[int, int], patch_size: int | None, model_name: str) -> None:
    """Raises ``UserError`` unless both image sides are multiples of the patch size."""
    if patch_size is None:
        return
    h, w = image_size
    if h % patch_size or w % patch_size:
        raise UserError(
            f"image size {h}x{w} is not divisible by the patch size {patch_size} of "
            f"{model_name}; choose a patch size that divides it "
            f"(--config.model.overrides.patch_size) or resize the images"
        )
