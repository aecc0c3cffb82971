"""The machine a results folder was made on: CPU model and cores, GPUs, JAX version.

Nothing here starts a JAX backend (the runner's own process must not take an accelerator
its training runs need)."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import shutil
import subprocess


def _command_output(args: list[str]) -> str:
    if shutil.which(args[0]) is None:
        return ""
    try:
        return subprocess.run(args, capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.SubprocessError):
        return ""


def cpu_model() -> str:
    for line in _command_output(["lscpu"]).splitlines():
        if line.startswith("Model name:"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def describe_machine() -> dict:
    gpus = [line for line in _command_output(["nvidia-smi", "-L"]).splitlines() if line.strip()]
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "gpus": gpus,
        "jax": importlib.metadata.version("jax"),
        "jaxlib": importlib.metadata.version("jaxlib"),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
