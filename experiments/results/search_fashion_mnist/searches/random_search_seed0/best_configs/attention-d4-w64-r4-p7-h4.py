"""Search candidate attention-d4-w64-r4-p7-h4: validation accuracy 0.7583, test accuracy 0.7495.

  mixer-vit train --config experiments/results/search_fashion_mnist/searches/random_search_seed0/best_configs/attention-d4-w64-r4-p7-h4.py --workdir workdirs/attention-d4-w64-r4-p7-h4

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
    'model.overrides.depth': 4,
    'model.overrides.drop_path_rate': 0.1,
    'model.overrides.embed_dim': 64,
    'model.overrides.mixer': 'attention',
    'model.overrides.mixer_kwargs': {'num_heads': 4},
    'model.overrides.mlp_ratio': 4.0,
    'model.overrides.patch_size': 7,
    'optim.lr': 0.002,
    'optim.warmup': '10%',
    'seed': 0,
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
    config_overrides.check_against(config, OVERRIDES, "search candidate attention-d4-w64-r4-p7-h4")
    return config
