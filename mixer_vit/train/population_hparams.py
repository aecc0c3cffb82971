"""Per-member values of a population: ``config.train.population_hparams``.

Grammar (whitespace ignored; ``""``: none, every member differs only by its seed)::

    SPEC  := ENTRY (";" ENTRY)*
    ENTRY := KEY "=" VALUE ("," VALUE)*

Each KEY lists one value per member, in member order, so every list has exactly
``train.population`` values and member i takes the i-th value of each list (a column of
the table, not a grid: write the grid's points out to search a grid). KEY is one of
``PER_MEMBER``: ``optim.lr`` (the peak learning rate; the schedule's shape, warm-up and
decay stay shared), ``optim.weight_decay``, and ``seed`` (integers; without it member i
has seed ``config.seed + i``, with it several members may share a seed, e.g. to compare
learning rates on the same initialisation and data order). E.g. three members, one seed::

    seed=0,0,0;optim.lr=1e-3,3e-3,1e-2;optim.weight_decay=0.05,0.05,0.1

``format_population_hparams`` writes the string from a mapping (for a search or an
experiment file). The learning rate and weight decay are leaves of each member's optimizer
state (optim/injected.py), so members with different values still share one compiled step.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import ml_collections

from mixer_vit.errors import UserError
from mixer_vit.optim.injected import INJECTED

KEY = "train.population_hparams"
SEED = "seed"
# What may differ between members, and the type of its values.
PER_MEMBER = {SEED: int, **{key: float for key in INJECTED}}
EXAMPLE = '"optim.lr=1e-3,3e-3;optim.weight_decay=0.05,0.1"'


def population_hparams_text(config: ml_collections.ConfigDict) -> str:
    """``config.train.population_hparams`` stripped (``""`` when the key is absent)."""
    return str(config.train.get("population_hparams", "") or "").strip()


def _has_key(config: ml_collections.ConfigDict, dotted: str) -> bool:
    node = config
    for part in dotted.split("."):
        if not isinstance(node, (ml_collections.ConfigDict, Mapping)) or part not in node:
            return False
        node = node[part]
    return True


def _value(key: str, text: str):
    kind = PER_MEMBER[key]
    try:
        value = kind(text)
    except ValueError:
        what = "an integer" if kind is int else "a number"
        raise UserError(f"{KEY}: {key} value {text!r} is not {what}; e.g. {EXAMPLE}") from None
    if kind is float and not math.isfinite(value):
        raise UserError(f"{KEY}: {key} value {text!r} is not a finite number")
    return value


def parse_population_hparams(
    config: ml_collections.ConfigDict, size: int
) -> dict[str, list]:
    """``{KEY: [value of member 0, ..., value of member size-1]}`` from
    ``config.train.population_hparams``, in the order written; ``{}`` when it is empty.
    ``UserError`` (one line) for a malformed entry, a key that does not exist or cannot
    differ per member, a value of the wrong type, or a list without ``size`` values."""
    text = population_hparams_text(config)
    if not text:
        return {}
    if not size:
        raise UserError(
            f"{KEY} gives per-member values but train.population is 0; set "
            f"--config.train.population to the number of members"
        )
    lists: dict[str, list] = {}
    for entry in (part.strip() for part in text.split(";")):
        if not entry:
            continue
        key, equals, values = (part.strip() for part in entry.partition("="))
        if not equals or not key or not values:
            raise UserError(f"{KEY}: {entry!r} is not KEY=V1,V2,...; e.g. {EXAMPLE}")
        if key not in PER_MEMBER:
            if _has_key(config, key):
                raise UserError(
                    f"{KEY}: {key} cannot differ between members (one compiled step); "
                    f"per-member keys: {', '.join(PER_MEMBER)}; train other values as "
                    f"separate runs"
                )
            raise UserError(
                f"{KEY}: unknown config key {key!r}; per-member keys: {', '.join(PER_MEMBER)}"
            )
        if key in lists:
            raise UserError(f"{KEY} names {key} twice; give it one list")
        lists[key] = [_value(key, v.strip()) for v in values.split(",")]
        if len(lists[key]) != size:
            raise UserError(
                f"{KEY} gives {len(lists[key])} values of {key} but train.population is "
                f"{size}; give one value per member"
            )
    return lists


def format_population_hparams(values: Mapping[str, Sequence[float]]) -> str:
    """``{"optim.lr": [1e-3, 3e-3], "seed": [0, 0]}`` -> ``"optim.lr=0.001,0.003;seed=0,0"``
    (the inverse of ``parse_population_hparams``; floats written exactly by ``repr``)."""
    return ";".join(
        f"{key}=" + ",".join(repr(PER_MEMBER.get(key, float)(v)) for v in column)
        for key, column in values.items()
    )
