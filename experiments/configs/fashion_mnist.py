"""Small models for Fashion-MNIST (28x28 grey images, 10 classes, 60,000 train / 10,000
test), sized for a 2-core CPU. Needs the data set once: ``mixer-vit prepare fashion_mnist``.

  mixer-vit train --config experiments/configs/fashion_mnist.py:vit --workdir workdirs/fm_vit
  mixer-vit train --config experiments/configs/fashion_mnist.py:resnet --workdir workdirs/fm_resnet

The argument names the preset (``vit`` default, ``vit_c``, ``mixer``, ``resnet``,
``convmixer``).
Every preset trains on ``train[:90%]`` (54,000 images), validates on the held-out
``train[90%:]`` (6,000) after every epoch and touches ``test`` once, at the end; tune
against the validation numbers only. Augmentation: the padded random crop of small-image
training (2 pixels) and left-right flips, as the Fashion-MNIST baselines use.
Everything else is the default config (``digits.py``) and overridable from the command line.
"""

import os

from mixer_vit.config_file import load_config_file
from mixer_vit.data.fashion_mnist_stats import PIXEL_MEAN, PIXEL_STD
from mixer_vit.errors import UserError

MEAN, STD = PIXEL_MEAN, PIXEL_STD

# preset -> (registered model, overrides), 0.2M-0.7M parameters.
MODEL_PRESETS = {
    # ViT: 4x4 patches (49 tokens), width 96, 6 blocks, 3 heads, mean-pooled head.
    "vit": (
        "vit_ti16",
        dict(
            patch_size=4,
            embed_dim=96,
            depth=6,
            mixer_kwargs=dict(num_heads=3),
            mlp_ratio=2.0,
            use_class_token=False,
            pool="gap",
            dropout_rate=0.0,
            drop_path_rate=0.1,
        ),
    ),
    # ViT_C (Xiao et al. 2021): the ViT above with a convolutional stem in place of the
    # 4x4 patchify convolution: two 3x3 stride-2 convolutions (32 and 64 channels, each
    # with BatchNorm and ReLU) and a 1x1 convolution to width 96; the same 49 tokens.
    "vit_c": (
        "vit_ti16",
        dict(
            patch_size=4,
            conv_stem_widths=(32, 64),
            embed_dim=96,
            depth=6,
            mixer_kwargs=dict(num_heads=3),
            mlp_ratio=2.0,
            use_class_token=False,
            pool="gap",
            dropout_rate=0.0,
            drop_path_rate=0.1,
        ),
    ),
    # MLP-Mixer: 4x4 patches, width 96, 6 blocks, token MLP 64 wide.
    "mixer": (
        "mixer_s16",
        dict(
            patch_size=4,
            embed_dim=96,
            depth=6,
            mixer_kwargs=dict(tokens_mlp_dim=64),
            mlp_ratio=2.0,
            dropout_rate=0.0,
            drop_path_rate=0.1,
        ),
    ),
    # ResNet with He et al.'s small-image stem (3x3/1 conv), BasicBlocks 2-2-2 at widths
    # 16-32-64 + a last stage of 128 (ResNet-18's layout at a quarter of its width).
    "resnet": (
        "resnet18",
        dict(stem="cifar", depths=(2, 2, 2, 2), stage_widths=(16, 32, 64, 128), drop_path_rate=0.0),
    ),
    # ConvMixer: 2x2 patches (14x14 grid), width 128, 6 blocks, 5x5 depthwise kernels.
    "convmixer": (
        "convmixer_768_32",
        dict(dim=128, depth=6, kernel_size=5, patch_size=2, activation="gelu"),
    ),
}


def get_config(arg=None):
    """arg: the model preset (see ``MODEL_PRESETS``), default "vit"."""
    preset = arg or "vit"
    if preset not in MODEL_PRESETS:
        raise UserError(
            f"unknown preset {preset!r} for fashion_mnist.py; use one of "
            f"{', '.join(MODEL_PRESETS)}"
        )
    here = os.path.dirname(os.path.abspath(__file__))
    config = load_config_file(os.path.join(here, "digits.py"))
    config.model.name, overrides = MODEL_PRESETS[preset]
    config.model.overrides = overrides

    config.data.name = "fashion_mnist"
    config.data.train_split = "train[:90%]"
    config.data.eval_split = "train[90%:]"
    config.data.test_split = "test"
    config.data.train_pp = f"random_crop(28,2)|flip|normalize({MEAN},{STD})"
    config.data.eval_pp = f"normalize({MEAN},{STD})"

    config.train.global_batch_size = 128
    config.train.num_epochs = 20
    config.train.log_every_steps = 100
    config.train.checkpoint_every_steps = 1000
    config.optim.lr = 1e-3
    config.optim.warmup = "1ep"
    config.optim.weight_decay = 0.05
    config.loss.label_smoothing = 0.1
    return config
