"""Boolean masks over parameter trees, chosen by regular expressions on '/'-joined names."""

from __future__ import annotations

import re
from typing import Any, Sequence

import flax.traverse_util

# Norm scales/biases, all biases, position embeddings and extra tokens get no weight decay.
NO_DECAY_PATTERNS = (r"(^|/)bias$", r"(^|/)scale$", r"pos_embed", r"cls_token", r"dist_token")


def flat_param_names(params: Any) -> list[str]:
    """The '/'-joined path of every leaf, e.g. ``blocks_0/mixer/qkv/kernel``."""
    return ["/".join(k) for k in flax.traverse_util.flatten_dict(params)]


def decay_mask(params: Any, no_decay: Sequence[str] = NO_DECAY_PATTERNS) -> Any:
    """A tree like ``params`` holding True where weight decay applies.

    A parameter is decayed unless its name matches one of ``no_decay`` (``re.search``).
    """
    compiled = [re.compile(p) for p in no_decay]
    flat = flax.traverse_util.flatten_dict(params)
    mask = {k: not any(p.search("/".join(k)) for p in compiled) for k in flat}
    return flax.traverse_util.unflatten_dict(mask)
