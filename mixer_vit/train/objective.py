"""The training objective of one batch: on-device augmentation, forward pass, loss
(label smoothing, softmax or sigmoid cross-entropy) and knowledge distillation."""

from __future__ import annotations

from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

from mixer_vit import losses
from mixer_vit.class_weights import weight_by_target
from mixer_vit.data.batch_mixing import mixup_or_cutmix, random_erasing
from mixer_vit.train.step_options import StepOptions

Teacher = Callable[[jax.Array], jax.Array]  # images [B, H, W, C] -> logits [B, K]


def augment_on_device(
    rng: jax.Array, images: jax.Array, targets: jax.Array, opts: StepOptions
) -> tuple[jax.Array, jax.Array]:
    """Mixup / CutMix (targets mixed alike) then random erasing; [B, H, W, C], [B, K]."""
    key_mix, key_erase = jax.random.split(rng)
    images, targets, _ = mixup_or_cutmix(
        key_mix,
        images,
        targets,
        mixup_alpha=opts.mixup_alpha,
        cutmix_alpha=opts.cutmix_alpha,
        switch_prob=opts.mix_switch_prob,
    )
    if opts.erase_prob > 0:
        images = random_erasing(key_erase, images, prob=opts.erase_prob, area=opts.erase_area)
    return images, targets


def _classification_loss(logits: jax.Array, targets: jax.Array, opts: StepOptions) -> jax.Array:
    if opts.loss == "sigmoid":
        return losses.sigmoid_cross_entropy(logits, targets)
    return losses.softmax_cross_entropy(logits, targets)


def make_loss_fn(
    model: nn.Module,
    opts: StepOptions,
    model_state: Any,
    batch: dict,
    rng: jax.Array,
    teacher: Teacher | None,
):
    """Returns ``loss_fn(params) -> (loss, (logits [B, K], new_model_state))``.

    batch: ``image`` [B, H, W, C], ``label`` int [B]. With distillation the teacher sees the
    same augmented images as the student. A student that returns two heads while
    training (DeiT's class and distillation tokens) gets the hard-label loss on the first
    and the distillation loss on the second; otherwise both losses use its one output.
    """
    key_augment, key_dropout = jax.random.split(rng)
    num_classes = model.num_classes
    targets = losses.smoothed_targets(batch["label"], num_classes, opts.label_smoothing)
    images, targets = augment_on_device(key_augment, batch["image"], targets, opts)
    teacher_logits = None
    if opts.distillation != "none":
        teacher_logits = jax.lax.stop_gradient(teacher(images))
    mutable = list(model_state) or False

    def loss_fn(params):
        out = model.apply(
            {"params": params, **model_state},
            images,
            train=True,
            rngs={"dropout": key_dropout},
            mutable=mutable,
        )
        outputs, new_model_state = out if mutable else (out, model_state)
        class_logits, distill_logits = outputs if isinstance(outputs, tuple) else (outputs, outputs)
        loss = _classification_loss(class_logits, targets, opts)
        if opts.class_weights:  # per example by its (smoothed, mixed) target
            loss = weight_by_target(loss, targets, opts.class_weights)
        if opts.distillation == "hard":
            distill = losses.hard_distillation(distill_logits, teacher_logits)
            loss = 0.5 * loss + 0.5 * distill
        elif opts.distillation == "soft":
            distill = losses.soft_distillation(
                distill_logits, teacher_logits, opts.distill_temperature
            )
            loss = (1 - opts.distill_alpha) * loss + opts.distill_alpha * distill
        logits = (class_logits + distill_logits) / 2 if isinstance(outputs, tuple) else class_logits
        return jnp.mean(loss), (logits, new_model_state)

    return loss_fn
