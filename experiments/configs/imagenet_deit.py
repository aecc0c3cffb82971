"""DeiT-Ti/S/B trained from scratch on ImageNet-1k, the recipe of Touvron et al. 2021,
"Training data-efficient image transformers & distillation through attention", Table 9::

  mixer-vit train --config experiments/configs/imagenet_deit.py:ti --workdir workdirs/deit_ti
  mixer-vit train --config experiments/configs/imagenet_deit.py:s --workdir workdirs/deit_s
  mixer-vit train --config experiments/configs/imagenet_deit.py:b --workdir workdirs/deit_b

Published ImageNet top-1 (validation, 224x224, 300 epochs): DeiT-Ti **72.2**,
DeiT-S **79.8**, DeiT-B **81.8**.

The recipe (Table 9): batch 1024, AdamW with learning rate 5e-4 x batch / 512 (1e-3 here),
weight decay 0.05, 5 warm-up epochs then cosine decay, 300 epochs, label smoothing 0.1,
stochastic depth 0.1 (DeiT-Ti/S/B all 0.1, as Table 9 lists), no dropout, no gradient
clipping, RandAugment (2 ops, magnitude 9), mixup alpha 0.8 and CutMix alpha 1.0 (one of
the two per batch, chance 0.5), random erasing with probability 0.25, repeated
augmentation x3; evaluation resizes to 256 and center-crops 224.

Hardware: 8 GPUs, data parallel (``mesh.fsdp=1``), 128 images per device, one micro-batch
(DeiT-B at 128 per 80 GB device is well inside the ~337 docs/scale_out.md estimates for
ViT-B/16), bfloat16 compute with float32 parameters and AdamW state (``model.dtype``). On a
TPU slice the same config runs with ``data`` over every core (1024 / 32 = 32 per core on a
v3-32).

What differs from the paper:

* RandAugment is this project's (``randaugment(2,9)`` in ``data/image_augment.py``): its
  op list and magnitude scale follow the RandAugment paper, not timm's
  ``rand-m9-mstd0.5-inc1`` (no magnitude noise, no increasing-severity variants).
* Repeated augmentation (``data.augment.repeats=3``) draws a third of the images each
  epoch and shows each three times, differently augmented, as DeiT's sampler does; DeiT
  spreads the three copies over different GPUs, here they sit next to each other in the
  global batch (the same devices, usually). For a model without BatchNorm this changes
  nothing in the update.
* Random erasing (``augment.erase_prob``) runs on the device after mixing and erases a
  square (area fraction uniform in [0.02, 1/3], centre uniform, clipped at the border)
  with zeros; timm's, which DeiT uses, erases before mixing, draws the aspect ratio from
  [0.3, 3.3], keeps the box inside the image and fills it with per-pixel normal noise.
* Nothing here has been run at this scale; the published numbers are the paper's.
"""

import importlib.util
import os

import ml_collections

from mixer_vit.errors import UserError

_HERE = os.path.dirname(os.path.abspath(__file__))

DEIT_TRAIN_PP = "decode|random_resized_crop(224)|flip|randaugment(2,9)|normalize(imagenet)"

SIZES = {"ti": "deit_ti16", "s": "deit_s16", "b": "deit_b16"}
BATCH = 1024


def _common():
    spec = importlib.util.spec_from_file_location(
        "full_scale_common", os.path.join(_HERE, "full_scale_common.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def deit_recipe(config):
    """Sets Table 9's training recipe on ``config`` (everything but the model)."""
    common = _common()
    common.use_imagenet(config, train_pp=DEIT_TRAIN_PP)
    common.use_bfloat16_compute(config)
    common.use_data_parallel_mesh(config, grad_accum_steps=1)
    config.data.augment.repeats = 3

    config.train.global_batch_size = BATCH
    config.train.num_epochs = 300

    config.optim.name = "adamw"
    config.optim.lr = 5e-4 * BATCH / 512
    config.optim.b1, config.optim.b2, config.optim.eps = 0.9, 0.999, 1e-8
    config.optim.weight_decay = 0.05
    config.optim.warmup = "5ep"
    config.optim.schedule = "cosine"
    config.optim.end_lr_factor = 0.0
    config.optim.grad_clip_norm = 0.0  # DeiT does not clip

    config.loss.name = "softmax"
    config.loss.label_smoothing = 0.1
    config.augment.mixup_alpha = 0.8
    config.augment.cutmix_alpha = 1.0
    config.augment.switch_prob = 0.5
    config.augment.erase_prob = 0.25
    config.augment.erase_area = "0.02,0.3333"
    return config


def get_config(arg=None):
    """arg: ti, s (default) or b."""
    size = arg or "s"
    if size not in SIZES:
        raise UserError(
            f"unknown size {size!r} for imagenet_deit.py; use one of {', '.join(SIZES)}"
        )
    config = _common().base_config()
    config.model.name = SIZES[size]
    config.model.overrides = ml_collections.ConfigDict(dict(dropout_rate=0.0, drop_path_rate=0.1))
    return deit_recipe(config)
