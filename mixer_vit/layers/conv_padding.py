"""PyTorch-style static convolution / pooling padding (timm's ``get_padding``)."""

from __future__ import annotations


def torch_padding(
    kernel_size: int, stride: int = 1, dilation: int = 1
) -> tuple[tuple[int, int], ...]:
    """Symmetric padding ``((p, p), (p, p))`` with ``p = ((s - 1) + d * (k - 1)) // 2``.

    This is what timm's non-``tf_`` models use (``padding=''``): e.g. 1 for a 3x3 conv of
    stride 1 or 2, 3 for the 7x7/2 stem, 0 for a 1x1. It differs from TF/Flax ``'SAME'``
    for stride 2, which pads asymmetrically (more on the bottom/right).
    """
    p = ((stride - 1) + dilation * (kernel_size - 1)) // 2
    return ((p, p), (p, p))
