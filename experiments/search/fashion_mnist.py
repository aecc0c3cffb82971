"""Architecture search on Fashion-MNIST: regularized evolution against random search at
an equal budget, over the isotropic MetaFormer's token mixer, depth, width, MLP ratio,
patch size and heads, under a parameter and a FLOPs limit.

  mixer-vit prepare fashion_mnist                    # once
  for seed in 0 1; do for strategy in random_search regularized_evolution; do
    mixer-vit search experiments/search/fashion_mnist.py --strategy $strategy \\
        --seed $seed --workdir workdirs/search_fm/${strategy}_seed$seed
  done; done

Each candidate trains 3 epochs on train[:15%] (9,000 images), validates on
train[90%:95%] (3,000 held-out training images: the only number the search selects on)
and reads the 10,000 test images once at the end (for the report). Budget 20 trials
per search; 4 searches (2 strategies x 2 seeds) fit in about two hours of a 2-core CPU
(see "cost" below). Successive halving with the same config:
``--strategy successive_halving`` (20 candidates at 1 epoch, the best 10 to 2, the best
5 to 4 epochs: 35 trials, about the cost of 20 full ones).

Cost, measured on a 2-core CPU shared with two other training runs: 85 s per candidate
(2 random candidates, dwconv-d2-w96 and identity-d4-w64: 2 min 50 s with start-up,
cost analysis and compilation; 63% and 48% validation accuracy after 3 epochs), so
20 trials x 85 s = 28 min per search and 4 searches = 1 h 55 min; less on an idle CPU.
"""

import ml_collections

MEAN, STD = 0.2860, 0.3530  # Fashion-MNIST pixel statistics (0..1 scale)


def get_config():
    config = ml_collections.ConfigDict()
    config.train = "../configs/digits_mixer.py:identity"
    config.train_overrides = {
        "data": {
            "name": "fashion_mnist",
            "train_split": "train[:15%]",
            "eval_split": "train[90%:95%]",
            "test_split": "test",
            "mean": MEAN,
            "std": STD,
        },
        "model": {"overrides": {"drop_path_rate": 0.1}},
        "train": {"global_batch_size": 128, "log_every_steps": 20},
        "optim": {"lr": 2e-3, "warmup": "10%"},
    }
    config.space = {
        "mixer": ("attention", "mlp", "fourier", "pooling", "dwconv", "identity"),
        "depth": (2, 4, 6),
        "width": (32, 64, 96),
        "mlp_ratio": (2.0, 4.0),
        "patch_size": (4, 7),
        "heads": (2, 4),
        "mixer_kwargs": {
            "mlp": {"tokens_mlp_dim": 64},
            "dwconv": {"kernel_size": 3, "pointwise": False},
        },
    }
    config.constraints = {"max_params": 300_000, "max_gflops": 0.02}
    config.strategy = "regularized_evolution"
    config.epochs = 3
    config.evolution = {"population": 6, "sample_size": 3}
    config.halving = {"min_epochs": 1, "max_epochs": 4, "eta": 2}
    config.budget = 20
    config.seed = 0
    return config
