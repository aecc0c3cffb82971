"""Issue 19, experiment 5: learning-rate schedules and early stopping.

Five schedules after the same 1-epoch warm-up: constant, step (lr / 10 at 50% and 75% of
training), cosine, cosine with warm restarts (SGDR: cycles of 5, 10 and 20 epochs) and
reduce-on-plateau (lr / 10 after 3 epochs without a validation-loss gain, on a constant
schedule); and early stopping (patience 3 on validation accuracy) on a constant and on a
cosine schedule, where the test report holds the test accuracy of both the
best-validation checkpoint and the last state, and the epoch training stopped at
(``test_report.json``'s ``early_stopping`` section). 7 arms x 2 seeds, about 25 minutes
on an idle 2-core CPU.

  mixer-vit prepare fashion_mnist                    # once
  mixer-vit experiment lr_schedules --seeds 2        # results in experiments/results/
  mixer-vit experiment lr_schedules --dry-run        # the `mixer-vit train` lines

The config keys (defaults in ``experiments/configs/digits.py``): ``optim.schedule``
(constant | step | cosine | cosine_restarts), ``optim.decay_at`` / ``decay_factor`` (step),
``optim.restart_period`` / ``restart_mult`` (cosine_restarts), ``optim.plateau.factor`` /
``patience`` (reduce-on-plateau, off at factor 1.0), ``early_stopping.patience`` /
``metric`` / ``min_delta`` (off at patience 0).
"""

import ml_collections

EPOCHS = 36  # 1 warm-up + 35: SGDR's 5 + 10 + 20 epoch cycles end exactly at the end
# test_report.json paths (its early_stopping section) -> results-table column labels; runs
# without early stopping have no such section.
METRICS = {
    "early_stopping.test_accuracy_best": "test acc. best ckpt",
    "early_stopping.test_accuracy_last": "test acc. last state",
    "early_stopping.best_epoch": "best epoch",
    "early_stopping.stopped_epoch": "stopped epoch",
}
EARLY_STOP = {"early_stopping": {"patience": 3, "metric": "accuracy", "min_delta": 0.0}}


def get_config():
    config = ml_collections.ConfigDict()
    config.claim = (
        "A decaying learning rate beats a constant one: step decay (He et al. 2016), cosine "
        "(Loshchilov & Hutter 2017, SGDR) and reduce-on-plateau end higher than a constant "
        "lr, and cosine with warm restarts is as good as plain cosine; early stopping's "
        "best-validation checkpoint is at least as good on test as the last state. Rule: "
        "step, cosine and plateau each beat constant; cosine_restarts is within 1 point of "
        "cosine; and with a constant lr the best-validation checkpoint's test accuracy is at "
        "least the last state's."
    )
    config.setting = (
        "ViT (4x4 patches, 49 tokens, width 64, 4 blocks, 2 heads, MLP ratio 4, mean-pooled "
        "head, 0.2M parameters) trained from scratch on Fashion-MNIST train[:2%] (1,200 "
        "images, no augmentation, no drop-path: small and unregularised, so that it "
        "overfits within the budget and early stopping has something to stop) for "
        f"{EPOCHS} epochs (324 steps), batch 128, AdamW lr 1e-3, weight decay 0.05, "
        "1-epoch warm-up, label smoothing 0.1; validation train[90%:92%] (1,200 held-out "
        "training images) after every epoch, the 10,000 test images once at the end. "
        "Scaled down from ImageNet / CIFAR "
        "ResNets trained for 90-200 epochs so that 14 runs fit in about 25 minutes of a "
        "2-core CPU. Early-stopping arms report the best checkpoint's test accuracy as "
        "their result; the last state's is in the early-stopping columns."
    )
    config.base_config = "fashion_mnist.py:vit"
    config.base_overrides = {
        "data": {
            "train_split": "train[:2%]",
            "eval_split": "train[90%:92%]",
            "test_split": "test",
            "train_pp": "normalize(0.286,0.353)",  # Fashion-MNIST statistics, no augmentation
        },
        "model": {
            "overrides": {
                "embed_dim": 64,
                "depth": 4,
                "mixer_kwargs": {"num_heads": 2},
                "mlp_ratio": 4.0,
                "drop_path_rate": 0.0,
            }
        },
        "train": {"num_epochs": EPOCHS, "global_batch_size": 128, "log_every_steps": 20},
        "optim": {"lr": 1e-3, "warmup": "1ep", "end_lr_factor": 0.0},
    }
    config.arms = {
        "constant": {"optim": {"schedule": "constant"}},
        "step": {"optim": {"schedule": "step", "decay_at": "18ep,27ep", "decay_factor": 0.1}},
        "cosine": {"optim": {"schedule": "cosine"}},
        "cosine_restarts": {
            "optim": {"schedule": "cosine_restarts", "restart_period": "5ep", "restart_mult": 2.0}
        },
        "plateau": {
            "optim": {
                "schedule": "constant",
                "plateau": {"factor": 0.1, "patience": 3, "cooldown": 0},
            }
        },
        "constant_early_stop": {"optim": {"schedule": "constant"}, **EARLY_STOP},
        "cosine_early_stop": {"optim": {"schedule": "cosine"}, **EARLY_STOP},
    }
    config.seeds = 2
    config.published = dict(
        source=(
            "He et al. 2016 (ResNet: lr / 10 at fixed epochs); Loshchilov & Hutter 2017 "
            "(SGDR: cosine with warm restarts matches or beats step decay on CIFAR-10/100 "
            "WRN-28-10, reaching a good model sooner); reduce-on-plateau and early stopping "
            "as in common practice (no single published number; qualitative, not re-checked)"
        ),
        values={
            "constant": "below the decaying schedules",
            "step": "the classic baseline",
            "cosine": "about step's accuracy",
            "cosine_restarts": "about cosine's, sooner",
            "plateau": "about step's",
            "constant_early_stop": "best checkpoint >= last",
        },
    )
    config.rule = (
        "step > constant and cosine > constant and plateau > constant "
        "and cosine_restarts >= cosine - 0.01 "
        "and constant_early_stop.early_stopping.test_accuracy_best >= "
        "constant_early_stop.early_stopping.test_accuracy_last"
    )
    experiment = config.to_dict()
    experiment["metrics"] = METRICS  # dotted keys: a plain dict (ConfigDict refuses dots)
    return experiment
