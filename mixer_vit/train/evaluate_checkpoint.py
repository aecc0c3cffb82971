"""Evaluates a saved checkpoint of a training workdir on any split."""

from __future__ import annotations

import json
import os

import jax
import ml_collections

from mixer_vit import data
from mixer_vit.errors import UserError
from mixer_vit.train.checkpoints import Checkpointer
from mixer_vit.train.evaluate import evaluate
from mixer_vit.train.setup import prepare
from mixer_vit.train.step import make_eval_step


def load_workdir_config(workdir: str) -> ml_collections.ConfigDict:
    path = os.path.join(workdir, "config.json")
    if not os.path.isfile(path):
        raise UserError(
            f"{workdir} is not a training workdir (no config.json); pass the --workdir "
            f"of a `mixer-vit train` run"
        )
    with open(path) as f:
        return ml_collections.ConfigDict(json.load(f))


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
        preprocess=run.preprocess,
        process_index=jax.process_index(),
        process_count=jax.process_count(),
    )
    result = evaluate(state, make_eval_step(run.model, run.mesh), batches, run.mesh)
    return {**result, "step": step}
