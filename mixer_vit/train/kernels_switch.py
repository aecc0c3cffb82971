"""Applies ``config.model.kernels`` (auto | reference | cpu_tuned) to the layer library.

The layer kernels are chosen process-wide by ``mixer_vit.layers.kernels.set_kernels``;
a build without that switch runs its only kernels, which ``auto`` accepts.
"""

from __future__ import annotations

import importlib
import logging

from mixer_vit.errors import UserError

KERNEL_CHOICES = ("auto", "reference", "cpu_tuned")

log = logging.getLogger(__name__)


def check_kernels(kernels: str) -> None:
    if kernels not in KERNEL_CHOICES:
        raise UserError(
            f"model.kernels must be one of {', '.join(KERNEL_CHOICES)}, got {kernels!r}"
        )


def apply_kernels(kernels: str) -> None:
    """Selects the layer kernels for every model built after this call."""
    check_kernels(kernels)
    try:
        switch = importlib.import_module("mixer_vit.layers.kernels")
    except ImportError:
        switch = None
    if switch is None or not hasattr(switch, "set_kernels"):
        if kernels != "auto":
            raise UserError(
                f"model.kernels={kernels!r} needs mixer_vit.layers.kernels, which this "
                f"installation lacks; leave --config.model.kernels=auto"
            )
        return
    switch.set_kernels(kernels)
    log.info("layer kernels: %s", kernels)
