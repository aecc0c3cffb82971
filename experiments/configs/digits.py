"""Default config: a small ViT (or MLP-Mixer) on the embedded digits data set (8x8 grey
images, 10 classes, 1258 / 180 / 359 train / validation / test). Trains in well under a
minute on a 2-core CPU.

  mixer-vit train --config experiments/configs/digits.py --workdir workdirs/digits
  mixer-vit train --config experiments/configs/digits.py:mixer --workdir workdirs/digits_mixer
"""

import ml_collections
from ml_collections.config_dict import placeholder

# 4x4 patches (4 tokens of an 8x8 image), width 128, 2 blocks.
MODEL_PRESETS = {
    "vit": (
        "vit_ti16",
        dict(
            patch_size=4,
            embed_dim=128,
            depth=2,
            mixer_kwargs=dict(num_heads=4),
            mlp_ratio=4.0,
            dropout_rate=0.0,
            drop_path_rate=0.1,
        ),
    ),
    "mixer": (
        "mixer_s16",
        dict(
            patch_size=4,
            embed_dim=128,
            depth=2,
            mixer_kwargs=dict(tokens_mlp_dim=64),
            mlp_ratio=4.0,
            dropout_rate=0.0,
            drop_path_rate=0.1,
        ),
    ),
}


def get_config(arg=None):
    """arg: the model preset, "vit" (default) or "mixer"."""
    preset = arg or "vit"
    if preset not in MODEL_PRESETS:
        raise ValueError(
            f"unknown preset {preset!r} for digits.py; use one of {', '.join(MODEL_PRESETS)}"
        )
    config = ml_collections.ConfigDict()
    config.seed = 0
    config.num_devices = placeholder(int)  # default: all local devices

    config.model = ml_collections.ConfigDict()
    config.model.name, overrides = MODEL_PRESETS[preset]
    config.model.overrides = ml_collections.ConfigDict(overrides)

    config.data = ml_collections.ConfigDict()
    config.data.name = "sklearn_digits"
    config.data.data_dir = placeholder(str)  # default: $TFDS_DATA_DIR or ~/tensorflow_datasets
    config.data.train_split = "train"
    config.data.eval_split = "validation"
    config.data.test_split = "test"
    config.data.in_memory = True  # decode the small data set once
    config.data.mean = 0.5
    config.data.std = 0.5

    config.train = ml_collections.ConfigDict()
    config.train.global_batch_size = 64
    config.train.num_epochs = 40
    config.train.log_every_steps = 20
    config.train.checkpoint_every_steps = 500
    config.train.max_checkpoints_to_keep = 3
    config.train.halt_after_steps = placeholder(int)  # stop this invocation early (resume later)

    config.optim = ml_collections.ConfigDict()
    config.optim.name = "adamw"
    config.optim.lr = 1e-3
    config.optim.b1 = 0.9
    config.optim.b2 = 0.999
    config.optim.eps = 1e-8
    config.optim.momentum = 0.9  # sgd only
    config.optim.nesterov = False  # sgd only
    config.optim.weight_decay = 0.05
    config.optim.schedule = "warmup_cosine"
    config.optim.warmup_epochs = 5.0
    config.optim.end_lr_factor = 0.0
    config.optim.grad_clip_norm = 1.0

    config.loss = ml_collections.ConfigDict()
    config.loss.label_smoothing = 0.1
    return config
