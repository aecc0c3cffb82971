"""Staged architecture search on Fashion-MNIST: a 2-stage hierarchical MetaFormer
(PoolFormer's backbone) whose stages each choose their own token mixer, depth, width, MLP
ratio and heads, with the stem's patch size (stride) searched too: do conv-like mixers
win early and attention late (the MetaFormer-baselines / CAFormer pattern)? The same
data, training and budget as the isotropic search
(``experiments/search/fashion_mnist.py``), so the two compare.

  mixer-vit prepare fashion_mnist                    # once
  mixer-vit search experiments/search/fashion_mnist_staged.py \\
      --workdir workdirs/search_fm_staged/evolution_seed0
  mixer-vit search experiments/search/fashion_mnist_staged.py --strategy random_search \\
      --workdir workdirs/search_fm_staged/random_seed0

Each candidate trains 3 epochs on train[:15%] (9,000 images), validates on
train[90%:95%] (the only number the search selects on) and reads the test split once at
the end. Grids: patch 4 gives 7x7 then 4x4 tokens, patch 2 gives 14x14 then 7x7 (the
stem is a (2p-1)x(2p-1) conv of stride p, padding p-1; stage 2 halves the grid).

Mixers: every registered mixer builds at these fixed grids (checked for both patch
sizes). ``mlp`` (and ``linear``, ``random``) size their token-mixing weights by the
stage's token count, fixed per candidate since the image size is: fine for a search, but
such a model runs at this resolution only. Left out: ``window_attention`` (its 7x7
window covers a whole 7x7 or 4x4 grid, so it is plain attention with a position bias),
``talking_heads_attention`` and ``shift``/``linear``/``random`` (to keep the space the
isotropic search's six mixers).

Space: 6 mixers per stage, depth 1-3 per stage, widths 32/48/64 then 64/96/128, MLP
ratio 2 or 4, heads 2 or 4 (dividing the stage's width), patch 2 or 4:
(21 mixer-width-heads blocks x 3 depths x 2 ratios)^2 x 2 patch sizes = 31,752 candidates
(at most 350k params and 0.02 forward GFLOPs).

Cost, measured on a 2-core CPU shared with another training run (load ~3): the first 6
candidates of seed 0 took 20-40 s each, 32 s on average (3 epochs, validation and test,
6 s of start-up before the first), so 20 trials take about 11 minutes per search and
the 4 searches (2 strategies x 2 seeds) about 45 minutes; the hierarchical model's
small grids make a candidate cheaper than the isotropic search's (85 s).

References (mixer_vit/search/references.py): three hand-designed two-stage models train
first, in this search's own setting, into ``WORKDIR/references/LABEL``, and results.md
compares the best candidate with their front: ``poolformer`` (pooling, pooling),
``attention`` (attention, attention) and ``conv_attention`` (3x3 depthwise conv, then
attention: the CAFormer pattern), each with PoolFormer's proportions (widths 48 then 96,
2 blocks per stage, MLP ratio 4, stem stride 4, 24-wide heads). They are points of the
space itself; as measured for the search, 232k params / 0.0098 GFLOPs (poolformer),
325k / 0.0151 (attention) and 307k / 0.0124 (conv_attention): max_params is 350k (the
isotropic search's 300k would leave out the two with attention), so all three lie
within the limits. Cost: 3 more trainings per search,
each about a candidate's (estimated 20-40 s on a shared 2-core CPU, not measured): 1-2
minutes per search. The isotropic MetaFormers of experiments I (``token_mixers.py``)
cannot be built on this hierarchical base; the isotropic search
(``experiments/search/fashion_mnist.py``) trains them as its references in the same
proxy setting (the same data, train_overrides, epochs and seed; only the model
differs), so its ``references.jsonl`` at the same seed compares with this search's
candidates as well.
"""

import ml_collections

from mixer_vit.data.fashion_mnist_stats import PIXEL_MEAN, PIXEL_STD

MEAN, STD = PIXEL_MEAN, PIXEL_STD


def _two_stage_model(first: str, second: str) -> dict:
    """PoolFormer's proportions on two stages: widths 48 then 96 (doubling), 2 blocks
    each, MLP ratio 4, a stride-4 stem; attention with 24-wide heads (2, then 4)."""
    return {"patch_size": 4, "stages": [
        {"mixer": mixer, "depth": 2, "width": width, "mlp_ratio": 4.0,
         "heads": width // 24 if mixer == "attention" else None}
        for mixer, width in ((first, 48), (second, 96))]}


# Hand-designed hierarchical MetaFormers, trained in the search's own setting beside the
# candidates: PoolFormer's all-pooling, the same with attention throughout, and the
# CAFormer pattern (convolution early, attention late) that the search asks about.
STAGED_REFERENCES = {
    "poolformer": _two_stage_model("pooling", "pooling"),
    "attention": _two_stage_model("attention", "attention"),
    "conv_attention": _two_stage_model("dwconv", "attention"),
}


def get_config():
    config = ml_collections.ConfigDict()
    config.train = "../configs/digits.py:poolformer"
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
        "stages": 2,
        "mixer": ("attention", "mlp", "fourier", "pooling", "dwconv", "identity"),
        "depth": (1, 2, 3),
        "width": ((32, 48, 64), (64, 96, 128)),
        "mlp_ratio": (2.0, 4.0),
        "patch_size": (2, 4),
        "heads": (2, 4),
        "mixer_kwargs": {
            "mlp": {"tokens_mlp_dim": 64},
            "dwconv": {"kernel_size": 3, "pointwise": False},
        },
    }
    config.constraints = {"max_params": 350_000, "max_gflops": 0.02}
    config.strategy = "regularized_evolution"
    config.epochs = 3
    config.evolution = {"population": 6, "sample_size": 3}
    config.halving = {"min_epochs": 1, "max_epochs": 4, "eta": 2}
    config.budget = 20
    config.seed = 0
    config.references = STAGED_REFERENCES
    return config
