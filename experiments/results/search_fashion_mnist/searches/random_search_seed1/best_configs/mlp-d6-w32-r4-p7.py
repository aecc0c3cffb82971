"""Search candidate mlp-d6-w32-r4-p7: validation accuracy 0.7660, test accuracy 0.7532.

  mixer-vit train --config experiments/results/search_fashion_mnist/searches/random_search_seed1/best_configs/mlp-d6-w32-r4-p7.py --workdir workdirs/mlp-d6-w32-r4-p7

Written by `mixer-vit search`: the search's base config with its train_overrides and
the candidate's model, epochs and seed.
"""

from mixer_vit.config_file import load_config_file
from mixer_vit.experiment import config_overrides

BASE = 'experiments/configs/digits_mixer.py:identity'
OVERRIDES = {   'data.eval_split': 'train[90%:95%]',
    'data.mean': 0.286,
    'data.name': 'fashion_mnist',
    'data.std': 0.353,
    'data.test_split': 'test',
    'data.train_split': 'train[:15%]',
    'early_stopping.patience': 0,
    'model.overrides.depth': 6,
    'model.overrides.drop_path_rate': 0.1,
    'model.overrides.embed_dim': 32,
    'model.overrides.mixer': 'mlp',
    'model.overrides.mixer_kwargs': {'tokens_mlp_dim': 64},
    'model.overrides.mlp_ratio': 4.0,
    'model.overrides.patch_size': 7,
    'optim.lr': 0.002,
    'optim.warmup': '10%',
    'seed': 1,
    'train.end_of_run_images': False,
    'train.eval_every_epochs': 3,
    'train.global_batch_size': 128,
    'train.halt_after_steps': None,
    'train.log_every_steps': 20,
    'train.max_checkpoints_to_keep': 1,
    'train.num_epochs': 3,
    'train.population': 0}


def get_config(arg=None):
    config = load_config_file(BASE)
    config_overrides.check_against(config, OVERRIDES, "search candidate mlp-d6-w32-r4-p7")
    return config
