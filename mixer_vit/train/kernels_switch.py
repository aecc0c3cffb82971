"""Applies ``config.model.kernels`` (auto | reference | cpu_tuned) to the layer library.

The layer kernels are chosen process-wide by ``mixer_vit.layers.kernels.set_kernels``
(docs/kernels.md); the train step is traced after this call, so it uses them.
"""

from __future__ import annotations

import logging

from mixer_vit.errors import UserError
from mixer_vit.layers.kernels import KERNELS, set_kernels

log = logging.getLogger(__name__)


def apply_kernels(kernels: str) -> None:
    """Selects the layer kernels for every model traced after this call; ``UserError``
    naming the choices for an unknown value."""
    if kernels not in KERNELS:
        raise UserError(
            f"model.kernels must be one of {', '.join(KERNELS)}, got {kernels!r} "
            "(--config.model.kernels=auto picks cpu_tuned on CPU, reference elsewhere)"
        )
    set_kernels(kernels)
    log.info("layer kernels: %s", kernels)
