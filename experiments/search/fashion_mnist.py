"""Architecture search on Fashion-MNIST: regularized evolution against random search at
an equal budget, over the isotropic MetaFormer's token mixer, depth, width, MLP ratio,
patch size and heads, under a parameter and a FLOPs limit, against the hand-designed
MetaFormers of experiments I trained in the same setting.

  mixer-vit prepare fashion_mnist                    # once
  for seed in 0 1; do for strategy in random_search regularized_evolution; do
    mixer-vit search experiments/search/fashion_mnist.py --strategy $strategy \\
        --seed $seed --workdir workdirs/search_fm/${strategy}_seed$seed
  done; done

Each candidate trains 3 epochs on train[:15%] (9,000 images), validates on
train[90%:95%] (3,000 held-out training images: the only number the search selects on)
and reads the 10,000 test images once at the end (for the report). Budget 20 trials
per search (see "cost" below). Successive halving with the same config:
``--strategy successive_halving`` (20 candidates at 1 epoch, the best 10 to 2, the best
5 to 4 epochs: 35 trials, about the cost of 20 full ones).

Cost, measured: the four searches took 22 minutes on an otherwise idle 2-core CPU (6-18 s
per candidate, start-up, cost analysis and compilation included); results in
``experiments/results/search_fashion_mnist/`` and docs/search.md.

References: the seven hand-designed MetaFormers of experiments I
(``experiments/token_mixers.py``: width 64, 4 blocks, 4x4 patches; attention with 2
heads and MLP ratio 4; the token-mixing MLP with tokens_mlp_dim 160 and ratio 4;
fourier, pooling, dwconv (3x3, no pointwise), identity and the frozen random matrix with
ratio 6) train first, in this search's own proxy setting (3 epochs on 9,000 images, this
file's optimizer and seed; token_mixers' own setting is 8 epochs on 12,000 images, so its
results table does not compare), into ``WORKDIR/references/LABEL``; results.md compares
the best candidate with their front (mixer_vit/search/references.py). Their costs, as
measured for the search: 202k-207k params, 0.0200-0.0230 GFLOPs (identity 0.01999,
dwconv 0.0202, pooling 0.0201, random 0.0212, mlp 0.0217, attention 0.0225, fourier
0.0230). The limits (300k params, 0.025 GFLOPs) hold all seven, so candidates compete in
the references' cost range: the best candidate is behind their front when a reference
of at most its GFLOPs is more accurate on validation. Cost: 7 more trainings per search,
about a minute each on an idle 2-core CPU; they depend on the seed, not the strategy.
"""

import ml_collections

from mixer_vit.data.fashion_mnist_stats import PIXEL_MEAN, PIXEL_STD

MEAN, STD = PIXEL_MEAN, PIXEL_STD


def _token_mixers_model(mixer: str, mlp_ratio: float, heads=None, **mixer_kwargs) -> dict:
    """An arm of experiments/token_mixers.py: width 64, 4 blocks, 4x4 patches."""
    model = {"mixer": mixer, "depth": 4, "width": 64, "mlp_ratio": mlp_ratio,
             "patch_size": 4, "heads": heads}
    if mixer_kwargs:
        model["mixer_kwargs"] = {mixer: mixer_kwargs}
    return model


# The hand-designed MetaFormers of experiments/token_mixers.py (experiments I), trained
# here in the search's own proxy setting beside the candidates.
TOKEN_MIXERS_REFERENCES = {
    "attention": _token_mixers_model("attention", 4.0, heads=2),
    "mlp": _token_mixers_model("mlp", 4.0, tokens_mlp_dim=160),
    "fourier": _token_mixers_model("fourier", 6.0),
    "pooling": _token_mixers_model("pooling", 6.0),
    "dwconv": _token_mixers_model("dwconv", 6.0, kernel_size=3, pointwise=False),
    "identity": _token_mixers_model("identity", 6.0),
    "random": _token_mixers_model("random", 6.0),
}


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
    config.constraints = {"max_params": 300_000, "max_gflops": 0.025}
    config.strategy = "regularized_evolution"
    config.epochs = 3
    config.evolution = {"population": 6, "sample_size": 3}
    config.halving = {"min_epochs": 1, "max_epochs": 4, "eta": 2}
    config.budget = 20
    config.seed = 0
    config.references = TOKEN_MIXERS_REFERENCES
    return config
