"""Active learning on Fashion-MNIST (28x28 grey, 10 classes): which images to label next,
every acquisition function against random sampling.

  mixer-vit prepare fashion_mnist                       # once
  mixer-vit active experiments/active/fashion_mnist.py --workdir workdirs/active_fm

Pool: a random 10,000 of the 54,000 images of train[:90%] per seed (scoring the whole
pool every round would cost more than the training); validation: train[90%:95%] (3,000
held-out training images, the "labels needed" table); test: the 10,000 test images, read
once per round for the learning curve. Seed set 100 labels (10 per class), then 100 more
per round up to 1,000 labels (10 rounds), a fresh model each round: a 2-block, 64-wide
MLP-Mixer on 4x4 patches (49 tokens) with dropout 0.1 (MC dropout: 10 passes for BALD and
BatchBALD), without augmentation, AdamW lr 5e-3, no label smoothing, at least 20 epochs
and 400 steps of 32 images per round. It reaches about 60% test accuracy on 100 labels,
74% on 400 and 78% on 1,000 (class-balanced random labels, seed 0).

Scaled down to fit about an hour of a 2-core CPU for every strategy x 2 seeds (160 short
training runs): the pool subset, a small model, short rounds, 1,000 labels. Measured on a
2-core CPU shared with another training run: 20-25 s per round (the training run, a
deterministic pass over the pool and the validation and test evaluations), BALD's first
round 129 s with the first compilations and its 10 MC passes over the pool; --seeds 3 adds
half as much again. The published comparisons (BatchBALD, Kirsch et al. 2019; BADGE, Ash
et al. 2020; core-set, Sener & Savarese 2018) use the whole pool, larger nets and more
labels.
"""

import ml_collections

from mixer_vit.active.acquisition import STRATEGIES  # every acquisition function
from mixer_vit.data.fashion_mnist_stats import NORMALIZE_OP


def get_config():
    config = ml_collections.ConfigDict()
    config.train = "../configs/fashion_mnist.py:mixer"
    config.train_overrides = {
        "model": {
            "overrides": {
                "patch_size": 4,
                "embed_dim": 64,
                "depth": 2,
                "mixer_kwargs": {"tokens_mlp_dim": 32},
                "mlp_ratio": 2.0,
                "dropout_rate": 0.1,
                "drop_path_rate": 0.0,
            }
        },
        "data": {"train_pp": NORMALIZE_OP},
        "train": {"global_batch_size": 32, "log_every_steps": 100},
        "optim": {"lr": 5e-3, "warmup": "10%"},
        "loss": {"label_smoothing": 0.0},
    }
    config.pool_split = "train[:90%]"
    config.validation_split = "train[90%:95%]"
    config.test_split = "test"
    config.pool_size = 10000
    config.initial_labels = 100
    config.acquire_per_round = 100
    config.label_budget = 1000
    config.strategies = STRATEGIES
    config.seeds = 2
    config.mc_samples = 10
    config.mc_strategies = ("bald", "batchbald")
    config.class_balanced = False
    config.warm_start = False
    config.epochs_per_round = 20
    config.min_steps_per_round = 400
    config.target_accuracy = 0.75
    config.score_batch_size = 500
    return config
