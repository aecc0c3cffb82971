"""The training tricks a train step applies, read from the run config in one place."""

from __future__ import annotations

import dataclasses

import ml_collections

from mixer_vit.errors import UserError

LOSSES = ("softmax", "sigmoid")
DISTILLATION = ("none", "soft", "hard")


@dataclasses.dataclass(frozen=True)
class StepOptions:
    """Everything the jitted step needs beyond the model and optimizer (all static)."""

    loss: str = "softmax"
    label_smoothing: float = 0.0
    mixup_alpha: float = 0.0
    cutmix_alpha: float = 0.0
    mix_switch_prob: float = 0.5
    erase_prob: float = 0.0
    erase_area: tuple[float, float] = (0.02, 0.33)
    sam_rho: float = 0.0
    sam_adaptive: bool = False
    sam_eta: float = 0.01
    sam_per_device: bool = False
    ema_decay: float = 0.0
    accumulation_steps: int = 1
    distillation: str = "none"
    distill_temperature: float = 1.0
    distill_alpha: float = 0.5
    plateau: bool = False
    # Loss weight per class (mixer_vit/class_weights.py), K floats; (): unweighted.
    class_weights: tuple[float, ...] = ()

    def __post_init__(self):
        if self.loss not in LOSSES:
            raise UserError(
                f"unknown loss {self.loss!r}; set --config.loss.name to one of {', '.join(LOSSES)}"
            )
        if self.distillation not in DISTILLATION:
            raise UserError(
                f"unknown distillation {self.distillation!r}; set "
                f"--config.distill.kind to one of {', '.join(DISTILLATION)}"
            )
        if not 0.0 <= self.ema_decay < 1.0:
            raise UserError(f"ema.decay must be in [0, 1), got {self.ema_decay}")
        if self.accumulation_steps < 1:
            raise UserError(f"train.grad_accum_steps must be >= 1, got {self.accumulation_steps}")
        if self.sam_rho < 0:
            raise UserError(f"sam.rho must be >= 0, got {self.sam_rho}")
        if not 0.0 <= self.erase_prob <= 1.0:
            raise UserError(f"augment.erase_prob must be in [0, 1], got {self.erase_prob}")

    @classmethod
    def from_config(cls, config: ml_collections.ConfigDict) -> StepOptions:
        area = tuple(float(a) for a in str(config.augment.erase_area).split(","))
        if len(area) != 2 or not 0 < area[0] <= area[1] <= 1:
            raise UserError(
                f"augment.erase_area must be 'low,high' fractions in (0, 1], got "
                f"{config.augment.erase_area!r}"
            )
        return cls(
            loss=config.loss.name,
            label_smoothing=config.loss.label_smoothing,
            mixup_alpha=config.augment.mixup_alpha,
            cutmix_alpha=config.augment.cutmix_alpha,
            mix_switch_prob=config.augment.switch_prob,
            erase_prob=config.augment.erase_prob,
            erase_area=area,
            sam_rho=config.sam.rho,
            sam_adaptive=config.sam.adaptive,
            sam_eta=config.sam.eta,
            sam_per_device=config.sam.per_device,
            ema_decay=config.ema.decay,
            accumulation_steps=config.train.grad_accum_steps,
            distillation=config.distill.kind,
            distill_temperature=config.distill.temperature,
            distill_alpha=config.distill.alpha,
            plateau=config.optim.plateau.factor < 1.0,
        )
