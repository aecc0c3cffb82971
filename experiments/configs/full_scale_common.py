"""Shared pieces of the full-scale recipe configs (ImageNet, CIFAR-10 fine-tuning).

Every full-scale config starts from the default config (``digits.py``), so it carries
every key the trainer knows, including keys added after it was written, and then sets
what its paper states. Not a config itself: ``get_config`` is absent on purpose.
"""

import importlib.util
import os

import ml_collections

IMAGENET = "imagenet2012"  # TFDS name: 1,281,167 train / 50,000 validation images
IMAGENET_EVAL_PP = "decode|resize_small(256)|center_crop(224)|normalize(imagenet)"


def load_sibling_config(file_name: str, arg=None):
    """``get_config(arg)`` of another config file in this directory (configs are loaded by
    path, not imported as a package)."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), file_name)
    spec = importlib.util.spec_from_file_location(file_name.removesuffix(".py"), path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.get_config(arg)


def base_config():
    """The default config with nothing model- or data-specific left on: no batch mixing,
    no SAM, no EMA, no distillation, and the digits model's overrides dropped."""
    config = load_sibling_config("digits.py")
    config.model.overrides = ml_collections.ConfigDict()
    config.data.in_memory = False  # ImageNet does not fit in host memory decoded
    config.train.log_every_steps = 100
    config.train.checkpoint_every_steps = 2000
    return config


def use_imagenet(config, train_pp: str, eval_pp: str = IMAGENET_EVAL_PP):
    """ImageNet-1k from a TFDS data dir. Published top-1 numbers are on the 50,000
    validation images, so ``validation`` is both the split watched during training and
    the final report's split (ImageNet's test labels are not public)."""
    config.data.name = IMAGENET
    config.data.train_split = "train"
    config.data.eval_split = "validation"
    config.data.test_split = "validation"
    config.data.train_pp = train_pp
    config.data.eval_pp = eval_pp
    _set_if_known(config.data, "num_threads", 16)  # JPEG decoding is the input's cost
    _set_if_known(config.data, "prefetch_batches", 8)
    return config


def use_bfloat16_compute(config):
    """bfloat16 compute with float32 parameters and optimizer state, where the trainer
    has the ``model.dtype`` key; a trainer without it computes in float32 and the config
    still loads."""
    _set_if_known(config.model, "dtype", "bfloat16")
    return config


def use_data_parallel_mesh(config, grad_accum_steps: int = 1):
    """Pure data parallelism on every device (parameters replicated: these models' train
    state is at most ~1 GB), the global batch split into ``grad_accum_steps``
    micro-batches when one device cannot hold its share at once."""
    config.mesh.fsdp = 1
    config.mesh.model = 1
    config.train.grad_accum_steps = grad_accum_steps
    return config


def _set_if_known(group, key: str, value) -> None:
    if key in group:
        setattr(group, key, value)
