"""Evaluates a saved checkpoint of a training workdir on any split."""

from __future__ import annotations

import logging
import os

import jax

from mixer_vit.errors import UserError
from mixer_vit.train.checkpoints import Checkpointer
from mixer_vit.train.evaluate import evaluate
from mixer_vit.train.plan import plan_run
from mixer_vit.train.step import make_eval_step
from mixer_vit.train.workdir_config import load_workdir_config

log = logging.getLogger(__name__)


def _mesh_for_these_devices(config):
    """The training run's mesh if it fits the devices here, else data parallel: a model
    trained with FSDP / tensor parallelism on many devices evaluates on fewer (orbax
    restores onto whatever mesh the state has)."""
    mesh = config.get("mesh")
    if mesh is None:
        return config
    devices = config.num_devices or jax.device_count()
    if devices % (mesh.fsdp * mesh.model):
        log.info(
            "the training mesh (fsdp=%d, model=%d) does not fit %d devices; "
            "evaluating data parallel",
            mesh.fsdp,
            mesh.model,
            devices,
        )
        mesh.fsdp, mesh.model = 1, 1
    return config


def evaluate_checkpoint(workdir: str, split: str, step: int | None = None) -> dict[str, float]:
    """Returns ``accuracy``, ``loss``, ``count`` and ``step`` of checkpoint ``step`` (default:
    the latest) of ``workdir`` on ``split``."""
    config = _mesh_for_these_devices(load_workdir_config(workdir))
    run = plan_run(config)
    ckpt = Checkpointer(os.path.join(workdir, "checkpoints"), config.train.checkpoint_every_steps)
    try:
        step = ckpt.latest_step() if step is None else step
        if step is None:
            raise UserError(f"{workdir} has no checkpoint yet; train first")
        state, _ = ckpt.restore(step, run.init_state())
    finally:
        ckpt.close()
    batches = run.eval_batches(split)
    eval_step = make_eval_step(
        run.model, run.mesh, use_ema=run.evaluate_with_ema, state_sharding=run.state_sharding()
    )
    result = evaluate(state, eval_step, batches, run.mesh)
    return {**result, "step": step}
