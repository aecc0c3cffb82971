"""``model.inference_head``: which head a model with a distillation token predicts with
outside training (DeiT Table 3): ``both`` (the average of the class-token and
distillation-token heads, the default), ``class`` or ``distillation``."""

from __future__ import annotations

import flax.linen as nn
import ml_collections

from mixer_vit.errors import UserError
from mixer_vit.models.deit import INFERENCE_HEADS


def with_inference_head(model: nn.Module, config: ml_collections.ConfigDict) -> nn.Module:
    """``model`` set to predict with ``config.model.inference_head`` (configs written before
    the key existed: ``both``); ``UserError`` for an unknown head, or for ``class`` /
    ``distillation`` on a model without a distillation token."""
    head = config.model.get("inference_head", "both") or "both"
    if head not in INFERENCE_HEADS:
        raise UserError(
            f"model.inference_head must be one of {', '.join(INFERENCE_HEADS)}, got {head!r}"
        )
    if not hasattr(model, "inference_head"):
        if head != "both":
            raise UserError(
                f"model.inference_head={head} picks a head of the distillation token, which "
                f"{config.model.name} does not have; use a deit_*_distilled model or 'both'"
            )
        return model
    return model.clone(inference_head=head)
