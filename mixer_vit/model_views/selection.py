"""Which layers and heads to draw: the ``--layers`` / ``--heads`` indices, checked, or
defaults that keep a figure readable."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mixer_vit.errors import UserError

MAX_DEFAULT_LAYERS = 6
MAX_DEFAULT_HEADS = 12


def parse_indices(values: Sequence[str] | None, flag: str) -> list[int] | None:
    """``["0", "5"]`` (a comma list flag) -> ``[0, 5]``; None stays None."""
    if values is None:
        return None
    try:
        return [int(v) for v in values]
    except ValueError:
        raise UserError(
            f"--{flag} takes comma-separated integers, e.g. --{flag} 0,1; got {','.join(values)}"
        ) from None


def check_indices(indices: Sequence[int], count: int, flag: str, what: str) -> list[int]:
    """``indices`` when each is in 0..count-1, else ``UserError`` naming the valid range
    (``what``: e.g. "attention layers" or "heads")."""
    if not indices:
        raise UserError(f"--{flag} is empty; give indices in 0..{count - 1} ({count} {what})")
    bad = [i for i in indices if not 0 <= i < count]
    if bad:
        raise UserError(
            f"--{flag} {','.join(map(str, bad))} out of range: this model has {count} {what}, "
            f"valid indices are 0..{count - 1}"
        )
    return list(indices)


def default_layers(count: int, limit: int = MAX_DEFAULT_LAYERS) -> list[int]:
    """All of ``count`` layers when there are at most ``limit``; else ``limit`` evenly
    spaced ones from the first to the last."""
    if count <= limit:
        return list(range(count))
    return sorted({int(round(i)) for i in np.linspace(0, count - 1, limit)})


def default_heads(count: int, limit: int = MAX_DEFAULT_HEADS) -> list[int]:
    """The first ``min(count, limit)`` heads."""
    return list(range(min(count, limit)))
