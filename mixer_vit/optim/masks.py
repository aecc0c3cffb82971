"""Trees over parameters chosen by regular expressions on their '/'-joined names.

Rules are written in configs as strings: a pattern (``re.search`` on names such as
``blocks_0/mixer/qkv/kernel``), or ``"pattern:value, pattern:value"`` lists where the first
matching rule wins.
"""

from __future__ import annotations

import re
from typing import Any

import flax.traverse_util

from mixer_vit.errors import UserError

# Norm scales/biases, all biases, position embeddings and extra tokens get no weight decay.
NO_DECAY = r"(^|/)bias$|(^|/)scale$|pos_embed|cls_token|dist_token"


def flat_param_names(params: Any) -> list[str]:
    """The '/'-joined path of every leaf, e.g. ``blocks_0/mixer/qkv/kernel``."""
    return ["/".join(k) for k in flax.traverse_util.flatten_dict(params)]


def path_name(path) -> str:
    """A jax key path (from ``tree_map_with_path``) as a '/'-joined name."""
    return "/".join(str(getattr(k, "key", getattr(k, "name", k))) for k in path)


def _compile(pattern: str, what: str) -> re.Pattern:
    try:
        return re.compile(pattern)
    except re.error as e:
        raise UserError(f"{what}: {pattern!r} is not a regular expression ({e})") from None


def map_names(params: Any, value_of_name) -> Any:
    """A tree like ``params`` whose leaves are ``value_of_name("a/b/kernel")``."""
    flat = flax.traverse_util.flatten_dict(params)
    return flax.traverse_util.unflatten_dict({k: value_of_name("/".join(k)) for k in flat})


def regex_mask(params: Any, pattern: str, what: str = "pattern") -> Any:
    """True where the name matches ``pattern``; all False for an empty pattern."""
    if not pattern:
        return map_names(params, lambda name: False)
    compiled = _compile(pattern, what)
    return map_names(params, lambda name: bool(compiled.search(name)))


def decay_mask(params: Any, no_decay: str = NO_DECAY) -> Any:
    """True where weight decay applies: every parameter whose name ``no_decay`` misses."""
    compiled = _compile(no_decay, "optim.no_decay") if no_decay else None
    return map_names(params, lambda name: not (compiled and compiled.search(name)))


def parse_value_rules(rules: str, what: str) -> list[tuple[re.Pattern, float]]:
    """``"head:10, pos_embed:0.1"`` -> [(re(head), 10.0), (re(pos_embed), 0.1)]."""
    parsed = []
    for rule in (r.strip() for r in rules.split(",") if r.strip()):
        pattern, sep, value = rule.rpartition(":")
        try:
            number = float(value)
        except ValueError:
            number = None
        if not sep or number is None:
            raise UserError(f"{what}: rule {rule!r} is not 'pattern:number' (e.g. 'head:10')")
        parsed.append((_compile(pattern, what), number))
    return parsed
