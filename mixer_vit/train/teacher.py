"""Loading a distillation teacher: any model of the zoo trained by `mixer-vit train`."""

from __future__ import annotations

import os
from typing import Any

import flax.linen as nn

from mixer_vit.errors import UserError
from mixer_vit.train.checkpoints import Checkpointer
from mixer_vit.train.plan import plan_run
from mixer_vit.train.workdir_config import load_workdir_config


def load_teacher(
    workdir: str, num_classes: int, image_shape: tuple[int, int, int]
) -> tuple[nn.Module, dict[str, Any]]:
    """The teacher model and its variables (EMA parameters if it evaluated with them),
    restored from the latest checkpoint of a training ``workdir``; replicated.

    Raises ``UserError`` if it predicts another number of classes or expects other images.
    """
    if not workdir:
        raise UserError(
            "distillation needs a teacher: set --config.distill.teacher_workdir to "
            "the workdir of a finished `mixer-vit train` run"
        )
    teacher_run = plan_run(load_workdir_config(workdir))
    teacher_classes = teacher_run.model.num_classes
    if teacher_classes != num_classes or tuple(teacher_run.image_shape) != tuple(image_shape):
        raise UserError(
            f"teacher in {workdir} predicts {teacher_classes} classes from "
            f"{teacher_run.image_shape} images, the student {num_classes} from {image_shape}; "
            f"train the teacher on the same data set"
        )
    ckpt = Checkpointer(os.path.join(workdir, "checkpoints"), 1)
    try:
        step = ckpt.latest_step()
        if step is None:
            raise UserError(f"teacher workdir {workdir} has no checkpoint; train it first")
        state, _ = ckpt.restore(step, teacher_run.init_state())
    finally:
        ckpt.close()
    use_ema = state.ema_params is not None and teacher_run.config.ema.evaluate
    params = state.ema_params if use_ema else state.params
    return teacher_run.model, {"params": params, **state.model_state}
