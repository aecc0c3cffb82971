"""At the end of a run: ``show``'s pictures of the trained model (attention maps and
rollout of the first validation images, token-mixing weights, position-embedding
similarity) as TensorBoard images, tags ``views/NAME``.

Models without any of these weights (ResNet, PoolFormer, ...) get none. A failure is
logged as a warning and never ends the run (the metrics and test report are written).
"""

from __future__ import annotations

import logging

import jax
import numpy as np

from mixer_vit.errors import UserError

log = logging.getLogger(__name__)

NUM_IMAGES = 2  # validation images whose attention is drawn


def first_images(plan, split: str, count: int = NUM_IMAGES) -> np.ndarray:
    """The first ``count`` examples of ``split`` after the run's eval preprocessing:
    float32 ``[count, H, W, C]`` (fewer when the split is smaller)."""
    source = plan.open_split(split)
    preprocess = plan.eval_preprocess()
    count = min(count, len(source))
    return np.stack([np.asarray(preprocess(source[i])["image"], np.float32) for i in range(count)])


def write_model_views(writer, plan, state, step: int) -> list[str]:
    """writer: the run's ``MetricsWriter``; plan: its ``RunPlan``; state: the final
    ``TrainState`` (the EMA parameters are drawn when the run evaluates with them).
    Returns the tags written."""
    if not getattr(writer, "enabled", True):
        return []
    try:
        from mixer_vit.model_views.render import view_figures
        from mixer_vit.run_plots.canvas import figure_rgb

        params = state.ema_params if plan.evaluate_with_ema else state.params
        variables = jax.device_get({"params": params, **dict(state.model_state or {})})
        images = first_images(plan, plan.config.data.eval_split)
        names = [f"validation{i}" for i in range(len(images))]
        class_names = plan.class_names()
        try:
            figures = view_figures(
                plan.model, variables, images, names=names, class_names=class_names
            )
        except UserError:  # a model without attention, token-mixing MLP or pos_embed
            return []
        written = []
        for name, figure in figures.items():
            writer.add_image(f"views/{name}", figure_rgb(figure), step)
            written.append(f"views/{name}")
        return written
    except Exception as e:  # noqa: BLE001 - pictures must never fail a finished run
        log.warning("could not write the model's pictures to TensorBoard: %r", e)
        return []
