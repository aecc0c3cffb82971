"""A candidate as a config file that ``mixer-vit train --config FILE`` runs:
``best_configs/NAME.py`` loads the search's base config and applies the candidate's
overrides (the search's ``train_overrides``, then the model and schedule). The base
config is named relative to the directory the search ran from when it lies below it
(``experiments/configs/digits.py:poolformer``: the exported file then runs from that
directory, e.g. a checkout's root, wherever the file is copied), else by its absolute
path."""

from __future__ import annotations

import os
import pprint

from mixer_vit.search.candidate_training import candidate_overrides
from mixer_vit.search.settings import SearchSettings

CONFIGS_DIR = "best_configs"

TEMPLATE = '''"""Search candidate {name}: validation accuracy {val}, test accuracy {test}.

  mixer-vit train --config {path} --workdir workdirs/{name}

Written by `mixer-vit search`: the search's base config with its train_overrides and
the candidate's model, epochs and seed.
"""

from mixer_vit.config_file import load_config_file
from mixer_vit.experiment import config_overrides

BASE = {base!r}
OVERRIDES = {overrides}


def get_config(arg=None):
    config = load_config_file(BASE)
    config_overrides.check_against(config, OVERRIDES, "search candidate {name}")
    return config
'''


def export_config(settings: SearchSettings, record: dict, workdir: str) -> str:
    """Writes ``workdir/best_configs/NAME.py`` for the history record; returns its path."""
    overrides = {**settings.train_overrides,
                 **candidate_overrides(settings, record["candidate"])}
    overrides["train.halt_after_steps"] = None
    path = os.path.join(workdir, CONFIGS_DIR, f"{record['name']}.py")
    test = record["test_accuracy"]
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(TEMPLATE.format(
            name=record["name"], val=f"{record['validation_accuracy']:.4f}",
            test="not measured" if test is None else f"{test:.4f}", path=path,
            base=portable_spec(settings.train_config_path()),
            overrides=pprint.pformat(overrides, indent=4, sort_dicts=True),
        ))
    return path


def portable_spec(spec: str, cwd: str | None = None) -> str:
    """``FILE[:ARG]`` with FILE relative to ``cwd`` (default: the current directory) when
    it lies below it, else absolute."""
    from mixer_vit.config_file import split_config_spec

    path, arg = split_config_spec(spec)
    path = os.path.abspath(path)
    cwd = os.path.abspath(cwd or os.getcwd())
    if os.path.commonpath([path, cwd]) == cwd:
        path = os.path.relpath(path, cwd)
    return path if arg is None else f"{path}:{arg}"


def train_command(path: str) -> str:
    name = os.path.splitext(os.path.basename(path))[0]
    return f"mixer-vit train --config {path} --workdir workdirs/{name}"
