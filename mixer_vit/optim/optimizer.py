"""The optimizer from config: adamw or sgd (optax), weight decay under a mask, optional
global-norm gradient clipping."""

from __future__ import annotations

import ml_collections
import optax

from mixer_vit.errors import UserError
from mixer_vit.optim.masks import decay_mask

OPTIMIZERS = ("adamw", "sgd")


def build_optimizer(
    optim: ml_collections.ConfigDict, schedule: optax.Schedule
) -> optax.GradientTransformation:
    """Returns the gradient transformation described by ``config.optim``.

    adamw: ``optax.adamw`` with ``b1``/``b2``/``eps`` and ``weight_decay`` applied only where
    ``decay_mask`` is True. sgd: momentum (``nesterov`` optional), with ``weight_decay * w``
    added to the gradient under the same mask (PyTorch's SGD convention).
    """
    mask = decay_mask  # optax calls it on the parameter tree
    if optim.name == "adamw":
        tx = optax.adamw(
            schedule,
            b1=optim.b1,
            b2=optim.b2,
            eps=optim.eps,
            weight_decay=optim.weight_decay,
            mask=mask,
        )
    elif optim.name == "sgd":
        tx = optax.chain(
            optax.add_decayed_weights(optim.weight_decay, mask=mask),
            optax.sgd(schedule, momentum=optim.momentum or None, nesterov=optim.nesterov),
        )
    else:
        raise UserError(
            f"unknown optimizer {optim.name!r}; set --config.optim.name to one of "
            f"{', '.join(OPTIMIZERS)}"
        )
    if optim.grad_clip_norm:
        tx = optax.chain(optax.clip_by_global_norm(optim.grad_clip_norm), tx)
    return tx
