"""Shared fixtures: the embedded digits data set built once per session, and a tiny
training config derived from the default one."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_CONFIG = os.path.join(REPO, "experiments", "configs", "digits.py")


def load_default_config():
    """The README's default config (experiments/configs/digits.py), unlocked."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("digits_config", DEFAULT_CONFIG)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.get_config()


@pytest.fixture(scope="session")
def digits_data_dir(tmp_path_factory) -> str:
    from mixer_vit import data

    path = str(tmp_path_factory.mktemp("tfds"))
    data.ensure_prepared("sklearn_digits", path)
    return path


TINY_MODEL = dict(
    patch_size=2, depth=2, embed_dim=32, mixer_kwargs=dict(num_heads=2), mlp_ratio=2.0
)


@pytest.fixture
def tiny_config(digits_data_dir):
    """A factory: the default config shrunk to a 2-block, 32-wide ViT, 2 epochs, batch 32."""

    def make(**train_changes):
        config = load_default_config()
        config.data.data_dir = digits_data_dir
        config.model.overrides = dict(TINY_MODEL, dropout_rate=0.1, drop_path_rate=0.1)
        config.train.global_batch_size = 32
        config.train.num_epochs = 2
        config.train.log_every_steps = 5
        config.optim.warmup = "1ep"
        for key, value in train_changes.items():
            config.train[key] = value
        return config

    return make


def config_flags_for(config) -> list[str]:
    """Command-line flags that turn the default config file into ``config``."""
    flags = ["--config", DEFAULT_CONFIG, f"--config.data.data_dir={config.data.data_dir}"]
    for section in ("train", "optim", "loss"):
        for key, value in config[section].items():
            if value is not None:
                flags.append(f"--config.{section}.{key}={value}")
    return flags


def run_cli(args: list[str], env_extra: dict[str, str] | None = None, timeout: float = 300):
    """Runs ``python -m mixer_vit.cli ARGS`` in a fresh process; returns CompletedProcess."""
    env = dict(os.environ)
    env.update(env_extra or {})
    return subprocess.run(
        [sys.executable, "-m", "mixer_vit.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=REPO,
    )
