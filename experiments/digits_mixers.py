"""A small example experiment: attention vs average pooling as the token mixer of
the same small MetaFormer on the embedded digits data set (2 arms x 2 seeds, 15 epochs;
about 3 minutes in all on a 2-core CPU).

  mixer-vit experiment digits_mixers            # train, then results in experiments/results/
  mixer-vit experiment digits_mixers --dry-run  # the four `mixer-vit train` lines
"""

import ml_collections


def get_config():
    config = ml_collections.ConfigDict()
    config.claim = (
        "A parameter-free pooling token mixer does about as well as self-attention in the "
        "same MetaFormer (PoolFormer): at least 95% of attention's accuracy."
    )
    config.setting = (
        "Isotropic MetaFormer, 2 blocks, width 128, 2x2 patches (16 tokens) on 8x8 digits "
        "(1258 train / 359 test images), 15 epochs, AdamW."
    )
    config.base_config = "digits_mixer.py:attention,num_heads=4"
    config.base_overrides = {"train": {"num_epochs": 15}}
    config.arms = {
        "attention": {},
        "pooling": {"config": "digits_mixer.py:pooling"},
    }
    config.seeds = 2
    config.published = dict(
        source="PoolFormer Table 5, ImageNet top-1 of a 12-block MetaFormer",
        values={"pooling": 77.2},
    )
    config.rule = "pooling >= 0.95 * attention"
    return config
