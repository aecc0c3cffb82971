"""A run stopped after k steps and resumed ends with exactly the parameters of an
uninterrupted run: data order and randomness are restored, not restarted."""

import os
import shutil

import jax
import numpy as np

from mixer_vit.train.loop import open_checkpointer, train_and_evaluate
from mixer_vit.train.plan import plan_run


def final_params(config, workdir):
    ckpt = open_checkpointer(config, workdir)
    try:
        state, _ = ckpt.restore(ckpt.latest_step(), plan_run(config).init_state())
    finally:
        ckpt.close()
    return jax.device_get(state.params), int(state.step)


def test_resume_after_interruption_matches_uninterrupted_run(tiny_config, tmp_path):
    config = tiny_config(checkpoint_every_steps=7)  # 39 steps per epoch, 2 epochs
    full = train_and_evaluate(config, str(tmp_path / "full"))

    workdir = str(tmp_path / "resumed")
    halted = train_and_evaluate(tiny_config(checkpoint_every_steps=7, halt_after_steps=46), workdir)
    assert halted == {"steps": 46, "halted": True}
    # Simulate a crash after step 46: its checkpoint never landed, so resume from step 42,
    # mid-way through the second epoch.
    shutil.rmtree(os.path.join(workdir, "checkpoints", "46"))
    resumed = train_and_evaluate(config, workdir)

    assert resumed["steps"] == full["steps"] == 78
    params_full, step_full = final_params(config, str(tmp_path / "full"))
    params_resumed, step_resumed = final_params(config, workdir)
    assert step_full == step_resumed == 78
    diffs = jax.tree.leaves(
        jax.tree.map(lambda a, b: float(np.max(np.abs(a - b))), params_full, params_resumed)
    )
    assert max(diffs) == 0.0
    assert resumed["accuracy"] == full["accuracy"]
