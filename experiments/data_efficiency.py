"""Experiment 2: data efficiency of a ResNet, a ViT and an MLP-Mixer trained from scratch.

The common claim (ViT, Dosovitskiy et al. 2021, section 4.3 and Figure 3/4; MLP-Mixer,
Tolstikhin et al. 2021, Figure 2/3): without a convolution's locality and translation
equivariance, transformers and Mixers need more training data than convnets; a convnet
wins on small subsets and the gap closes as data grows. Here: the three families at 1%, 5%,
20% and 100% of the Fashion-MNIST training images, 2 seeds each.

  mixer-vit prepare fashion_mnist                      # once
  mixer-vit experiment data_efficiency --seeds 2       # results in experiments/results/
  mixer-vit experiment data_efficiency --dry-run       # the `mixer-vit train` lines

Budget: smaller subsets get more epochs (each size is trained to a comparable number of
images seen for the small subsets, capped for the full one): 1% (600 images) 40 epochs, 5%
(3,000) 12 epochs, 20% (12,000) 4 epochs, 100% (54,000: train[:90%]) 2 epochs; 24k-108k
images seen per run. About 55 minutes for 24 runs on a 2-core CPU.
"""

import ml_collections

# fraction label -> (train split, epochs, validate every N epochs)
SUBSETS = {
    "1pct": ("train[:1%]", 40, 10),
    "5pct": ("train[:5%]", 12, 4),
    "20pct": ("train[:20%]", 4, 1),
    "100pct": ("train[:90%]", 2, 1),
}
# family -> config preset of experiments/configs/fashion_mnist.py and model overrides
LABELS = {"resnet": "ResNet-10", "vit": "ViT", "mixer": "MLP-Mixer"}
FAMILIES = {
    # ResNet-10 layout (one BasicBlock per stage) at widths 16-32-64-128, small-image stem.
    "resnet": ("fashion_mnist.py:resnet", {"depths": (1, 1, 1, 1)}),
    "vit": ("fashion_mnist.py:vit", {}),
    "mixer": ("fashion_mnist.py:mixer", {}),
}


def _arm(family: str, subset: str) -> dict:
    config, model_overrides = FAMILIES[family]
    split, epochs, eval_every = SUBSETS[subset]
    arm = {
        "series": LABELS[family],
        "config": config,
        "data": {"train_split": split},
        "train": {"num_epochs": epochs, "eval_every_epochs": eval_every},
    }
    if model_overrides:
        arm["model"] = {"overrides": dict(model_overrides)}
    return arm


def get_config():
    config = ml_collections.ConfigDict()
    config.claim = (
        "Trained from scratch, ViTs and MLP-Mixers need more data than convnets: a ResNet "
        "is ahead on small training sets and the gap closes as the training set grows "
        "(ViT section 4.3 / Figure 3; MLP-Mixer Figure 2). Rule: the ResNet beats both at "
        "1% and 5% of the data, and its lead over each at 1% is larger than at 100%."
    )
    config.setting = (
        "Fashion-MNIST (28x28 grey), training subsets train[:1%] / [:5%] / [:20%] / [:90%] "
        "(600 / 3,000 / 12,000 / 54,000 images) for 40 / 12 / 4 / 2 epochs; validation "
        "train[90%:95%] (3,000 held-out training images), test 10,000 images once at the "
        "end. Models (experiments/configs/fashion_mnist.py): ResNet-10 layout (BasicBlocks "
        "1-1-1-1, widths 16-32-64-128, 3x3 stem), ViT (4x4 patches, width 96, 6 blocks, 3 "
        "heads, MLP ratio 2, mean-pooled), MLP-Mixer (4x4 patches, width 96, 6 blocks, "
        "token MLP 64, channel MLP ratio 2). Padded random crop + flip, AdamW lr 1e-3, "
        "wd 0.05, batch 128, 10% warm-up then cosine, label smoothing 0.1. Scaled down from "
        "the papers (JFT-300M / ImageNet-21k subsets, ViT-B and larger, thousands of TPU "
        "days) to fit about an hour of a 2-core CPU: short schedules, 0.2M-0.5M "
        "parameters; the 100% runs are the least trained (2 epochs)."
    )
    config.base_config = "fashion_mnist.py:vit"
    config.base_overrides = {
        "data": {"eval_split": "train[90%:95%]"},
        "optim": {"warmup": "10%"},
        "train": {"log_every_steps": 50},
    }
    config.arms = {
        f"{family}_{subset}": _arm(family, subset) for family in FAMILIES for subset in SUBSETS
    }
    config.seeds = 2
    config.plot_x = "train_examples"
    config.plot_series = "series"
    config.published = dict(
        source=(
            "ViT (Dosovitskiy et al. 2021) Figure 3 / section 4.3: ImageNet top-1 after "
            "pre-training on ImageNet (1.3M), ImageNet-21k (14M), JFT-300M; BiT ResNets lead "
            "on the smallest, ViT-L/16 on the largest. MLP-Mixer (Tolstikhin et al. 2021) "
            "Figure 2: Mixer needs the most pre-training data of the three."
        ),
        values={
            "resnet_1pct": "ahead on small data",
            "vit_1pct": "behind on small data",
            "mixer_1pct": "furthest behind on small data",
            "resnet_100pct": "overtaken at the largest scale",
            "vit_100pct": "ahead at the largest scale",
        },
    )
    config.rule = (
        "resnet_1pct > vit_1pct and resnet_1pct > mixer_1pct "
        "and resnet_5pct > vit_5pct and resnet_5pct > mixer_5pct "
        "and resnet_1pct - vit_1pct > resnet_100pct - vit_100pct "
        "and resnet_1pct - mixer_1pct > resnet_100pct - mixer_100pct"
    )
    return config
