"""Fixed-size, zero-padded batches of pool images, so a jitted scorer compiles once."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np


def _chunks(images: np.ndarray | Iterable[np.ndarray]) -> Iterator[np.ndarray]:
    if hasattr(images, "ndim") and hasattr(images, "shape"):
        if images.ndim != 4:
            raise ValueError(f"pool images must be [N, H, W, C], got shape {images.shape}")
        yield images
        return
    for chunk in images:
        chunk = np.asarray(chunk)
        if chunk.ndim != 4:
            raise ValueError(f"pool image batches must be [B, H, W, C], got {chunk.shape}")
        yield chunk


def padded_batches(
    images: np.ndarray | Iterable[np.ndarray], batch_size: int
) -> Iterator[tuple[np.ndarray, int]]:
    """Yields ``(batch, n_real)``: float32 ``[batch_size, H, W, C]`` batches holding the
    pool's images in order, the last one zero-padded after its ``n_real`` real images.

    images: one ``[N, H, W, C]`` array, or an iterable of ``[b, H, W, C]`` arrays of any
    sizes ``b`` (re-cut into ``batch_size`` pieces).
    """
    pending: list[np.ndarray] = []
    held = 0
    for chunk in _chunks(images):
        start = 0
        while start < len(chunk):
            take = min(batch_size - held, len(chunk) - start)
            pending.append(np.asarray(chunk[start : start + take], np.float32))
            held += take
            start += take
            if held == batch_size:
                yield np.concatenate(pending), batch_size
                pending, held = [], 0
    if held:
        part = np.concatenate(pending)
        pad = np.zeros((batch_size - held, *part.shape[1:]), np.float32)
        yield np.concatenate([part, pad]), held
