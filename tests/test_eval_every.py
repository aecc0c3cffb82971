"""train.eval_every_epochs: validation runs after every N-th epoch only (and at the end)."""

from __future__ import annotations

import json
import os

import pytest

from mixer_vit.errors import UserError
from mixer_vit.train.loop import train_and_evaluate


def _validation_steps(workdir: str, split: str) -> set[int]:
    with open(os.path.join(workdir, "metrics.jsonl")) as f:
        records = [json.loads(line) for line in f]
    return {r["step"] for r in records if r["split"] == split}


def test_validation_every_second_epoch(tiny_config, tmp_path):
    config = tiny_config(num_epochs=3, eval_every_epochs=2, global_batch_size=64)
    train_and_evaluate(config, str(tmp_path))
    steps_per_epoch = 1258 // 64  # digits train split, batch 64
    # after epoch 2, then the final evaluation after epoch 3 (not after epochs 1 and 3)
    steps = _validation_steps(str(tmp_path), config.data.eval_split)
    assert 2 * steps_per_epoch in steps and steps_per_epoch not in steps


def test_eval_every_below_one_is_a_user_error(tiny_config, tmp_path):
    with pytest.raises(UserError, match="eval_every_epochs must be >= 1"):
        train_and_evaluate(tiny_config(eval_every_epochs=0), str(tmp_path))
    assert not os.listdir(tmp_path)
