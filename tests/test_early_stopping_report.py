"""The test report's early_stopping section: the test split on the best-validation checkpoint
and on the last state, each equal to evaluating that checkpoint on its own (plain NumPy
argmax over the model's logits, no loop code)."""

import json
import os

import numpy as np
import pytest
from test_recipes_cli import train

from mixer_vit.train.checkpoints import Checkpointer
from mixer_vit.train.early_stopping_report import early_stopping_section
from mixer_vit.train.plan import plan_run
from mixer_vit.train.workdir_config import load_workdir_config


@pytest.fixture(scope="module")
def stopped_run(digits_data_dir, tmp_path_factory):
    """lr 1e-3 trains, but min_delta 0.9 lets no later epoch count as a gain: best at epoch 1
    (step 19 of 19 per epoch), patience 2 stops at the end of epoch 3 (step 57) with
    parameters that moved on from the best ones."""
    workdir = tmp_path_factory.mktemp("early_stop") / "run"
    flags = [
        "--config.train.num_epochs=10",
        "--config.optim.warmup=0",
        "--config.early_stopping.patience=2",
        "--config.early_stopping.min_delta=0.9",
        "--config.train.end_of_run_images=False",
    ]
    assert train(workdir, digits_data_dir, *flags) == 0
    return str(workdir)


def _test_accuracy(workdir: str, directory: str, step: int) -> float:
    """Restores checkpoint ``step`` of WORKDIR/directory and counts correct test arg-maxes."""
    plan = plan_run(load_workdir_config(workdir))
    ckpt = Checkpointer(os.path.join(workdir, directory), 1)
    try:
        state, _ = ckpt.restore(step, plan.init_state())
    finally:
        ckpt.close()
    correct = total = 0
    for batch in plan.eval_batches(plan.config.data.test_split):
        logits = plan.model.apply({"params": state.params}, batch["image"], train=False)
        real = np.asarray(batch["mask"]) > 0
        hits = np.argmax(np.asarray(logits), axis=-1) == np.asarray(batch["label"])
        correct += int(hits[real].sum())
        total += int(real.sum())
    assert total == 359  # every digits test image once
    return correct / total


def test_report_holds_both_checkpoints_test_accuracy(stopped_run):
    report = json.loads(open(os.path.join(stopped_run, "test_report.json")).read())
    section = report["early_stopping"]
    assert {k: section[k] for k in ("best_step", "best_epoch", "stopped_step",
                                    "stopped_epoch", "stopped_early")} == {
        "best_step": 19, "best_epoch": 1, "stopped_step": 57, "stopped_epoch": 3,
        "stopped_early": True,
    }
    best = _test_accuracy(stopped_run, "best", 19)
    last = _test_accuracy(stopped_run, "checkpoints", 57)
    assert section["test_accuracy_best"] == pytest.approx(best, abs=1e-9)
    assert section["test_accuracy_last"] == pytest.approx(last, abs=1e-9)
    assert best != last  # two different states, so the section cannot repeat one number
    # The report's headline result is the best checkpoint's.
    assert report["top1"] == pytest.approx(best, abs=1e-9)


def test_epochs_count_from_one_and_round_up():
    result = {"accuracy": 0.5, "loss": 1.0}
    section = early_stopping_section(
        best_step=20, stopped_step=38, steps_per_epoch=19, stopped_early=False,
        test_best=result, test_last={"accuracy": 0.25, "loss": 2.0},
    )
    assert (section["best_epoch"], section["stopped_epoch"]) == (2, 2)
    assert (section["test_accuracy_best"], section["test_accuracy_last"]) == (0.5, 0.25)
    assert (section["test_loss_best"], section["test_loss_last"]) == (1.0, 2.0)
