"""The search space over the isotropic MetaFormer: its dimensions, sampling, mutation,
a candidate's encoding and the model overrides it stands for.

A candidate is a small dict::

    {"mixer": "attention", "depth": 2, "width": 64, "mlp_ratio": 4.0,
     "patch_size": 2, "heads": 2}

``heads`` is ``None`` for a mixer without ``num_heads`` (it does not change such a
model, so it is no dimension of it). A candidate is valid when every value is one of the
space's choices and ``heads`` divides ``width``; the checks of the space itself (known
mixers, required mixer hyper-parameters, a divisor of every width among ``heads``) are
one-line ``UserError``\\ s when the search config is read.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np

from mixer_vit.errors import UserError

DIMENSIONS = ("mixer", "depth", "width", "mlp_ratio", "patch_size", "heads")
HEADS_FIELD = "num_heads"


def _mixer_fields(name: str) -> list:
    from mixer_vit.layers.mixers import get_mixer

    return [f for f in dataclasses.fields(get_mixer(name)) if f.name not in ("parent", "name")]


def takes_heads(mixer: str) -> bool:
    """Whether the registered mixer has a ``num_heads`` hyper-parameter."""
    return any(f.name == HEADS_FIELD for f in _mixer_fields(mixer))


@dataclasses.dataclass(frozen=True)
class SearchSpace:
    """The choices per dimension (tuples, in the config's order) and fixed per-mixer
    hyper-parameters."""

    mixer: tuple[str, ...]
    depth: tuple[int, ...]
    width: tuple[int, ...]
    mlp_ratio: tuple[float, ...]
    patch_size: tuple[int, ...]
    heads: tuple[int, ...] = ()
    mixer_kwargs: Mapping[str, Mapping[str, Any]] = dataclasses.field(default_factory=dict)

    # -- validity ----------------------------------------------------------------------
    def head_choices(self, width: int) -> tuple[int, ...]:
        """The ``heads`` choices that divide ``width``."""
        return tuple(h for h in self.heads if width % h == 0)

    def invalid_reason(self, c: Mapping[str, Any]) -> str | None:
        """Why the candidate ``c`` is not in the space, or None when it is."""
        if set(c) != set(DIMENSIONS):
            return f"keys {sorted(c)} are not {sorted(DIMENSIONS)}"
        for dim in DIMENSIONS[:-1]:
            if c[dim] not in getattr(self, dim):
                return f"{dim} {c[dim]!r} is not one of {getattr(self, dim)}"
        if takes_heads(c["mixer"]):
            if c["heads"] not in self.head_choices(c["width"]):
                return f"heads {c['heads']!r} is not a choice dividing width {c['width']}"
        elif c["heads"] is not None:
            return f"mixer {c['mixer']} takes no heads, but heads is {c['heads']!r}"
        return None

    # -- drawing ----------------------------------------------------------------------
    def sample(self, rng: np.random.Generator) -> dict[str, Any]:
        """A uniform draw of every dimension (heads among the divisors of the width)."""
        c = {dim: _pick(rng, getattr(self, dim)) for dim in DIMENSIONS[:-1]}
        c["heads"] = _pick(rng, self.head_choices(c["width"])) if takes_heads(c["mixer"]) else None
        return c

    def mutable_dimensions(self, c: Mapping[str, Any]) -> list[str]:
        """The dimensions of ``c`` that a mutation can change (another valid value exists)."""
        return [dim for dim in DIMENSIONS if self._alternatives(c, dim)]

    def mutate(self, c: Mapping[str, Any], rng: np.random.Generator):
        """``(child, dimension)``: ``c`` with one dimension, drawn uniformly among the
        mutable ones, set to another of its valid values, drawn uniformly; a mixer
        mutation that gains or loses ``num_heads`` also draws or drops ``heads``.
        ``(None, None)`` when no dimension can change."""
        dims = self.mutable_dimensions(c)
        if not dims:
            return None, None
        dim = _pick(rng, dims)
        child = dict(c)
        child[dim] = _pick(rng, self._alternatives(c, dim))
        if dim == "mixer":
            if not takes_heads(child["mixer"]):
                child["heads"] = None
            elif child["heads"] is None:
                child["heads"] = _pick(rng, self.head_choices(child["width"]))
        return child, dim

    def _alternatives(self, c: Mapping[str, Any], dim: str) -> tuple:
        """Values of ``dim`` other than ``c[dim]`` that keep ``c`` valid (the others fixed)."""
        if dim == "heads":
            choices = self.head_choices(c["width"]) if takes_heads(c["mixer"]) else ()
        elif dim == "width" and c["heads"] is not None:
            choices = tuple(w for w in self.width if w % c["heads"] == 0)
        elif dim == "mixer" and c["heads"] is not None:
            # a mixer with heads keeps the candidate's heads, so it is always allowed
            choices = self.mixer
        else:
            choices = getattr(self, dim)
        return tuple(v for v in choices if v != c[dim])

    # -- what a candidate stands for -----------------------------------------------------
    def name(self, c: Mapping[str, Any]) -> str:
        """A readable, unique folder name: ``attention-d2-w64-r4-p2-h2``."""
        ratio = f"{c['mlp_ratio']:g}".replace(".", "_")
        heads = f"-h{c['heads']}" if c["heads"] is not None else ""
        return f"{c['mixer']}-d{c['depth']}-w{c['width']}-r{ratio}-p{c['patch_size']}{heads}"

    def model_overrides(self, c: Mapping[str, Any]) -> dict[str, Any]:
        """The ``model.overrides`` entries the candidate sets in the base config."""
        kwargs = dict(self.mixer_kwargs.get(c["mixer"], {}))
        if c["heads"] is not None:
            kwargs[HEADS_FIELD] = int(c["heads"])
        return {
            "mixer": c["mixer"],
            "mixer_kwargs": kwargs,
            "depth": int(c["depth"]),
            "embed_dim": int(c["width"]),
            "mlp_ratio": float(c["mlp_ratio"]),
            "patch_size": int(c["patch_size"]),
        }

    def size(self) -> int:
        """Number of distinct valid candidates."""
        per_width = {w: len(self.head_choices(w)) for w in self.width}
        total = 0
        for mixer in self.mixer:
            for w in self.width:
                total += per_width[w] if takes_heads(mixer) else 1
        return total * len(self.depth) * len(self.mlp_ratio) * len(self.patch_size)


def _pick(rng: np.random.Generator, choices):
    """One of ``choices`` (a sequence), uniformly."""
    return choices[int(rng.integers(len(choices)))]


# -- reading the space from a search config ----------------------------------------------

def space_from_config(values: Mapping[str, Any], where: str) -> SearchSpace:
    """The ``space`` of a search config, checked (one-line ``UserError`` otherwise)."""
    from mixer_vit.layers.mixers import list_mixers

    values = dict(values)
    known = set(DIMENSIONS) | {"mixer_kwargs"}
    unknown = sorted(set(values) - known)
    if unknown:
        raise UserError(f"search config {where}: space has no dimension {unknown[0]}; "
                        f"the dimensions are {', '.join(DIMENSIONS)} (and mixer_kwargs)")
    for dim in DIMENSIONS[:-1]:
        if dim not in values:
            raise UserError(f"search config {where}: space lacks {dim}; give its choices "
                            f"as a tuple")
    choices: dict[str, tuple] = {}
    for dim in DIMENSIONS:
        raw = values.get(dim, ())
        raw = (raw,) if isinstance(raw, (str, int, float)) else tuple(raw)
        if dim != "heads" and not raw:
            raise UserError(f"search config {where}: space.{dim} is empty; give at least "
                            f"one choice")
        if len(set(raw)) != len(raw):
            raise UserError(f"search config {where}: space.{dim} {raw} repeats a choice")
        choices[dim] = raw
    for mixer in choices["mixer"]:
        if mixer not in list_mixers():
            raise UserError(f"search config {where}: unknown token mixer {mixer!r} in "
                            f"space.mixer; registered mixers: {', '.join(list_mixers())}")
    for dim in ("depth", "width", "patch_size", "heads"):
        for v in choices[dim]:
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise UserError(f"search config {where}: space.{dim} choice {v!r} is not "
                                f"a positive integer")
    for v in choices["mlp_ratio"]:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v <= 0:
            raise UserError(f"search config {where}: space.mlp_ratio choice {v!r} is not "
                            f"a positive number")
    choices["mlp_ratio"] = tuple(float(v) for v in choices["mlp_ratio"])
    kwargs = {k: dict(v) for k, v in dict(values.get("mixer_kwargs") or {}).items()}
    space = SearchSpace(**choices, mixer_kwargs=kwargs)
    _check_mixer_kwargs(space, where)
    return space


def _check_mixer_kwargs(space: SearchSpace, where: str) -> None:
    from mixer_vit.layers.mixers import list_mixers

    for mixer in space.mixer_kwargs:  # kwargs of mixers not searched are allowed (unused)
        if mixer not in list_mixers():
            raise UserError(f"search config {where}: space.mixer_kwargs names unknown token "
                            f"mixer {mixer!r}; registered mixers: {', '.join(list_mixers())}")
    for mixer in space.mixer:
        fields = _mixer_fields(mixer)
        names = {f.name for f in fields}
        given = dict(space.mixer_kwargs.get(mixer, {}))
        bad = sorted(set(given) - names | ({HEADS_FIELD} & set(given)))
        if bad:
            raise UserError(f"search config {where}: space.mixer_kwargs.{mixer} sets "
                            f"{bad[0]}, which {mixer} does not take or the search sets "
                            f"(num_heads comes from space.heads)")
        required = [f.name for f in fields
                    if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
                    and f.name not in (HEADS_FIELD, "dtype") and f.name not in given]
        if required:
            raise UserError(f"search config {where}: mixer {mixer} needs {required[0]}; set "
                            f"space.mixer_kwargs = {{'{mixer}': {{'{required[0]}': ...}}}}")
        if HEADS_FIELD in names:
            if not space.heads:
                raise UserError(f"search config {where}: mixer {mixer} takes num_heads but "
                                f"space.heads is empty; give head counts, e.g. (1, 2, 4)")
            for w in space.width:
                if not space.head_choices(w):
                    raise UserError(f"search config {where}: no choice of space.heads "
                                    f"{space.heads} divides width {w}; add a divisor or drop "
                                    f"the width")
