"""Evaluates a saved checkpoint of a training workdir on any split."""

from __future__ import annotations

import os

import jax

from mixer_vit import data
from mixer_vit.errors import UserError
from mixer_vit.train.checkpoints import Checkpointer
from mixer_vit.train.evaluate import evaluate
from mixer_vit.train.setup import prepare
from mixer_vit.train.step import make_eval_step
from mixer_vit.train.workdir_config import load_workdir_config


def evaluate_checkpoint(workdir: str, split: str, step: int | None = None) -> dict[str, float]:
    """Returns ``accuracy``, ``loss``, ``count`` and ``step`` of checkpoint ``step`` (default:
    the latest) of ``workdir`` on ``split``."""
    config = load_workdir_config(workdir)
    run = prepare(config)
    ckpt = Checkpointer(os.path.join(workdir, "checkpoints"), config.train.checkpoint_every_steps)
    try:
        step = ckpt.latest_step() if step is None else step
        if step is None:
            raise UserError(f"{workdir} has no checkpoint yet; train first")
        state, _ = ckpt.restore(step, run.init_state())
    finally:
        ckpt.close()
    batches = data.eval_batches(
        run.open_split(split),
        global_batch_size=config.train.global_batch_size,
        preprocess=run.eval_preprocess(),
        process_index=jax.process_index(),
        process_count=jax.process_count(),
    )
    eval_step = make_eval_step(
        run.model, run.mesh, use_ema=run.evaluate_with_ema, state_sharding=run.state_sharding()
    )
    result = evaluate(state, eval_step, batches, run.mesh)
    return {**result, "step": step}
