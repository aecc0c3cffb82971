"""Metric logging to a JSON-lines file and TensorBoard event files (tensorboardX, no TF)."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping

import jax
from tensorboardX import SummaryWriter


class MetricsWriter:
    """Appends ``{"step", "split", "time", <metric>: value}`` lines to
    ``workdir/metrics.jsonl`` and scalars ``<split>/<metric>`` to ``workdir/tensorboard``.
    Only process 0 writes."""

    def __init__(self, workdir: str):
        self.enabled = jax.process_index() == 0
        self.path = os.path.join(workdir, "metrics.jsonl")
        self._tb = SummaryWriter(os.path.join(workdir, "tensorboard")) if self.enabled else None

    def write(self, step: int, split: str, metrics: Mapping[str, float]) -> None:
        if not self.enabled:
            return
        values = {k: float(v) for k, v in metrics.items()}
        with open(self.path, "a") as f:
            f.write(
                json.dumps({"step": step, "split": split, "time": time.time(), **values}) + "\n"
            )
        for name, value in values.items():
            self._tb.add_scalar(f"{split}/{name}", value, step)

    def add_image(self, tag: str, image, step: int) -> None:
        """image: uint8 [H, W, 3] (e.g. a rendered plot) as TensorBoard image ``tag``."""
        if self.enabled:
            self._tb.add_image(tag, image, step, dataformats="HWC")

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()
