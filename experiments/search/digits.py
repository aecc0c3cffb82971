"""A small architecture search on the embedded digits data set (8x8 grey, 10 classes):
which token mixer, depth, width, MLP ratio, patch size and heads, under a parameter
limit. Regularized evolution, 12 trials of 3 epochs (a population of 4, tournaments of 2);
about 3 minutes on a 2-core CPU shared with another run (8 trials: 1 min 46 s).

  mixer-vit search experiments/search/digits.py --workdir workdirs/search_digits
  mixer-vit search experiments/search/digits.py --workdir workdirs/search_digits_sh \\
      --strategy successive_halving
"""

import ml_collections


def get_config():
    config = ml_collections.ConfigDict()
    config.train = "../configs/digits_mixer.py:identity"
    config.train_overrides = {
        "train": {"global_batch_size": 32, "log_every_steps": 20},
        "optim": {"lr": 2e-3, "warmup": "1ep"},
    }
    config.space = {
        "mixer": ("attention", "pooling", "fourier", "mlp", "identity"),
        "depth": (1, 2, 3),
        "width": (32, 64),
        "mlp_ratio": (2.0, 4.0),
        "patch_size": (2, 4),
        "heads": (1, 2, 4),
        "mixer_kwargs": {"mlp": {"tokens_mlp_dim": 16}},
    }
    config.constraints = {"max_params": 150_000}
    config.strategy = "regularized_evolution"
    config.epochs = 3
    config.evolution = {"population": 4, "sample_size": 2}
    config.halving = {"min_epochs": 1, "max_epochs": 4, "eta": 2}
    config.budget = 12
    config.seed = 0
    return config
