"""A training workdir's model and weights, ready for inference and probing.

``load_trained_model(workdir)`` restores a checkpoint of a ``mixer-vit train`` run and
returns the model, the variables it evaluates with (the EMA parameters when the run
evaluated with them, plus ``batch_stats`` and other collections), the run's own eval
preprocessing and its class names. ``predict`` and ``show`` build on it.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax
import ml_collections
import numpy as np

from mixer_vit import data
from mixer_vit.errors import UserError
from mixer_vit.train.checkpoints import Checkpointer
from mixer_vit.train.plan import plan_run
from mixer_vit.train.state import abstract_train_state
from mixer_vit.train.workdir_config import load_workdir_config


@dataclasses.dataclass
class TrainedModel:
    """model: the flax module (call it with ``train=False``); variables: ``{"params":
    ..., "batch_stats": ...}`` as ``model.apply`` takes them; preprocess: the run's eval
    preprocessing, ``{"image": uint8 [H0, W0, C], "label": int} -> {"image": float32
    [H, W, C], ...}``; image_shape: (H, W, C) the model sees; stored_image_shape: (H, W, C)
    of the images the data set stores (H, W None where they vary); class_names: one name per
    class (the data set's label names, or "0", "1", ... when it has none); step: the
    checkpoint step; used_ema: whether ``variables["params"]`` are the EMA parameters."""

    model: nn.Module
    variables: dict[str, Any]
    preprocess: Callable[[dict[str, Any]], dict[str, np.ndarray]]
    image_shape: tuple[int, int, int]
    stored_image_shape: tuple[int | None, int | None, int]
    class_names: list[str]
    step: int
    used_ema: bool
    config: ml_collections.ConfigDict

    def logits(self, images: np.ndarray, **apply_kwargs) -> Any:
        """images: float32 [B, H, W, C] already preprocessed -> logits [B, num_classes]
        (or ``(logits, state)`` when ``apply_kwargs`` asks for mutable collections)."""
        return self.model.apply(self.variables, images, train=False, **apply_kwargs)


def class_names_of(name: str, data_dir: str, num_classes: int) -> list[str]:
    """The data set's ``label`` ClassLabel names; "0".."K-1" where it stores none."""
    try:
        names = list(data.ensure_prepared(name, data_dir).info.features["label"].names)
    except (AttributeError, KeyError, TypeError):
        names = []
    if len(names) != num_classes:
        names = [str(i) for i in range(num_classes)]
    return names


def _restore_target(run) -> Any:
    """The train state's shapes, dtypes and shardings, without computing an init (restoring
    needs no initial values; building them compiles the model's init, seconds)."""
    shapes = abstract_train_state(
        run.model, run.tx, run.image_shape, with_ema=run.step_options.ema_decay > 0
    )
    return jax.tree.map(
        lambda s, sharding: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=sharding),
        shapes,
        run.state_sharding(),
    )


def load_trained_model(workdir: str, step: int | None = None) -> TrainedModel:
    """Restores checkpoint ``step`` (default: the latest) of ``workdir``; raises
    ``UserError`` when the directory is not a workdir or holds no checkpoint."""
    if not os.path.isdir(workdir):
        raise UserError(
            f"--workdir {workdir} does not exist; pass the workdir of a `mixer-vit train` run"
        )
    config = load_workdir_config(workdir)
    if config.get("mesh") is not None:
        config.mesh.fsdp, config.mesh.model = 1, 1  # inference: one device, whole parameters
    config.num_devices = 1
    if config.train.get("population"):
        raise UserError(
            f"{workdir} is a population run; pass one member's workdir, "
            f"e.g. {os.path.join(workdir, 'members', 'seed_0')}"
        )
    run = plan_run(config)
    checkpointer = Checkpointer(
        os.path.join(workdir, "checkpoints"), config.train.checkpoint_every_steps
    )
    try:
        step = checkpointer.latest_step() if step is None else step
        if step is None:
            raise UserError(f"{workdir} has no checkpoint yet; train first")
        state, _ = checkpointer.restore(step, _restore_target(run))
    finally:
        checkpointer.close()
    used_ema = run.evaluate_with_ema and state.ema_params is not None
    params = state.ema_params if used_ema else state.params
    variables = jax.device_get({"params": params, **dict(state.model_state or {})})
    return TrainedModel(
        model=run.model,
        variables=variables,
        preprocess=run.eval_preprocess(),
        image_shape=tuple(run.image_shape),
        stored_image_shape=tuple(data.data_info(config.data.name, run.data_dir).image_shape),
        class_names=run.class_names(),
        step=int(step),
        used_ema=bool(used_ema),
        config=config,
    )
