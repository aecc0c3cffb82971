"""Any registered token mixer in the isotropic MetaFormer, on the embedded digits data set.

The config argument names the mixer and, optionally, its hyper-parameters::

  mixer-vit train --config experiments/configs/digits_mixer.py:shift --workdir workdirs/shift
  mixer-vit train --config experiments/configs/digits_mixer.py:attention,num_heads=4 \\
      --workdir workdirs/attention

(values are Python literals). Everything else is the default config
(``digits.py``), and every key stays overridable from the command line, including the
mixer's hyper-parameters named in the argument (``--config.model.overrides.mixer_kwargs.
num_heads=2``). The model: 2x2 patches (a 4x4 grid of 16 tokens, so spatial mixers have
room to mix), width 128, 2 blocks, no class token, learned position embedding, mean-pooled
head; it works for every mixer, spatial ones included.
"""

import ast
import importlib.util
import os

import ml_collections

from mixer_vit.errors import UserError


def _default_config():
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "digits.py")
    spec = importlib.util.spec_from_file_location("digits_config", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.get_config()


def parse_mixer_arg(arg):
    """ "name,key=value,..." -> (name, {key: literal value})."""
    if not arg:
        raise UserError(
            "digits_mixer.py needs a mixer name, e.g. "
            "--config experiments/configs/digits_mixer.py:shift"
        )
    name, *pairs = arg.split(",")
    kwargs = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise UserError(f"expected key=value after the mixer name, got {pair!r}")
        try:
            kwargs[key.strip()] = ast.literal_eval(value.strip())
        except (ValueError, SyntaxError):
            kwargs[key.strip()] = value.strip()  # a bare string, e.g. implementation=fused
    return name.strip(), kwargs


def get_config(arg=None):
    mixer, mixer_kwargs = parse_mixer_arg(arg)
    config = _default_config()
    config.model.name = "vit_ti16"
    config.model.overrides = ml_collections.ConfigDict(
        dict(
            mixer=mixer,
            mixer_kwargs=mixer_kwargs,
            patch_size=2,
            embed_dim=128,
            depth=2,
            mlp_ratio=4.0,
            use_class_token=False,
            use_pos_embed=True,
            pool="gap",
            dropout_rate=0.0,
            drop_path_rate=0.1,
        )
    )
    return config
