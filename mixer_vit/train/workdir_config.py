"""The config a training workdir was started with (``workdir/config.json``)."""

from __future__ import annotations

import json
import os

import ml_collections

from mixer_vit.errors import UserError


def load_workdir_config(workdir: str) -> ml_collections.ConfigDict:
    path = os.path.join(workdir, "config.json")
    if not os.path.isfile(path):
        raise UserError(
            f"{workdir} is not a training workdir (no config.json); pass the --workdir "
            f"of a `mixer-vit train` run"
        )
    with open(path) as f:
        return ml_collections.ConfigDict(json.load(f))
