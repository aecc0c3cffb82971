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
import itertools
from collections.abc import Iterator, Mapping
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


# -- one block's mixer, width and heads (shared with the staged space) -------------------

def head_choices(heads: tuple[int, ...], width: int) -> tuple[int, ...]:
    """The ``heads`` choices that divide ``width``."""
    return tuple(h for h in heads if width % h == 0)


def heads_reason(heads: tuple[int, ...], c: Mapping[str, Any]) -> str | None:
    """Why ``c["heads"]`` does not fit ``c["mixer"]`` and ``c["width"]``, or None."""
    if takes_heads(c["mixer"]):
        if c["heads"] not in head_choices(heads, c["width"]):
            return f"heads {c['heads']!r} is not a choice dividing width {c['width']}"
    elif c["heads"] is not None:
        return f"mixer {c['mixer']} takes no heads, but heads is {c['heads']!r}"
    return None


def alternatives(choices: Mapping[str, tuple], heads: tuple[int, ...],
                 c: Mapping[str, Any], dim: str) -> tuple:
    """Values of ``dim`` other than ``c[dim]`` that keep ``c`` valid (the others fixed):
    ``choices[dim]`` for a plain dimension; widths that the candidate's heads divide; the
    head counts dividing the width (none for a mixer without heads). Any mixer keeps a
    candidate valid: one with heads keeps the candidate's heads, or draws them."""
    if dim == "heads":
        allowed = head_choices(heads, c["width"]) if takes_heads(c["mixer"]) else ()
    elif dim == "width" and c["heads"] is not None:
        allowed = tuple(w for w in choices["width"] if w % c["heads"] == 0)
    else:
        allowed = choices[dim]
    return tuple(v for v in allowed if v != c[dim])


def follow_mixer(c: dict[str, Any], heads: tuple[int, ...], rng: np.random.Generator) -> None:
    """After ``c["mixer"]`` changed: drop ``heads`` for a mixer without them, draw them
    (among the divisors of the width) for one that gains them."""
    if not takes_heads(c["mixer"]):
        c["heads"] = None
    elif c["heads"] is None:
        c["heads"] = pick(rng, head_choices(heads, c["width"]))


def block_mixer_kwargs(mixer_kwargs: Mapping[str, Mapping[str, Any]], mixer: str,
                       heads: int | None) -> dict[str, Any]:
    """The mixer's fixed hyper-parameters of the space, plus ``num_heads`` when set."""
    kwargs = dict(mixer_kwargs.get(mixer, {}))
    if heads is not None:
        kwargs[HEADS_FIELD] = int(heads)
    return kwargs


def ratio_text(ratio: float) -> str:
    """An MLP ratio as a folder-name part: 4.0 -> "4", 1.5 -> "1_5"."""
    return f"{ratio:g}".replace(".", "_")


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

    # model fields the base config's model needs (settings.train_config)
    base_model_fields = ("mixer", "mixer_kwargs", "depth", "embed_dim", "mlp_ratio",
                         "patch_size")
    base_model_kind = "an isotropic MetaFormer (vit_*, mixer_*, ...)"

    # -- validity ----------------------------------------------------------------------
    def head_choices(self, width: int) -> tuple[int, ...]:
        """The ``heads`` choices that divide ``width``."""
        return head_choices(self.heads, width)

    def invalid_reason(self, c: Mapping[str, Any]) -> str | None:
        """Why the candidate ``c`` is not in the space, or None when it is."""
        if set(c) != set(DIMENSIONS):
            return f"keys {sorted(c)} are not {sorted(DIMENSIONS)}"
        for dim in DIMENSIONS[:-1]:
            if c[dim] not in getattr(self, dim):
                return f"{dim} {c[dim]!r} is not one of {getattr(self, dim)}"
        return heads_reason(self.heads, c)

    # -- drawing ----------------------------------------------------------------------
    def sample(self, rng: np.random.Generator) -> dict[str, Any]:
        """A uniform draw of every dimension (heads among the divisors of the width)."""
        c = {dim: pick(rng, getattr(self, dim)) for dim in DIMENSIONS[:-1]}
        c["heads"] = pick(rng, self.head_choices(c["width"])) if takes_heads(c["mixer"]) else None
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
        dim = pick(rng, dims)
        child = dict(c)
        child[dim] = pick(rng, self._alternatives(c, dim))
        if dim == "mixer":
            follow_mixer(child, self.heads, rng)
        return child, dim

    def _alternatives(self, c: Mapping[str, Any], dim: str) -> tuple:
        """Values of ``dim`` other than ``c[dim]`` that keep ``c`` valid (the others fixed)."""
        choices = {d: getattr(self, d) for d in DIMENSIONS[:-1]}
        return alternatives(choices, self.heads, c, dim)

    # -- what a candidate stands for -----------------------------------------------------
    def name(self, c: Mapping[str, Any]) -> str:
        """A readable, unique folder name: ``attention-d2-w64-r4-p2-h2``."""
        ratio = ratio_text(c["mlp_ratio"])
        heads = f"-h{c['heads']}" if c["heads"] is not None else ""
        return f"{c['mixer']}-d{c['depth']}-w{c['width']}-r{ratio}-p{c['patch_size']}{heads}"

    def model_overrides(self, c: Mapping[str, Any]) -> dict[str, Any]:
        """The ``model.overrides`` entries the candidate sets in the base config."""
        return {
            "mixer": c["mixer"],
            "mixer_kwargs": block_mixer_kwargs(self.mixer_kwargs, c["mixer"], c["heads"]),
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

    def smallest_candidates(self) -> Iterator[dict[str, Any]]:
        """The least depth, width and MLP ratio (fewest heads), for each mixer and patch
        size: the constraints can be met only if one of these meets them."""
        for mixer, patch in itertools.product(self.mixer, self.patch_size):
            width = min(self.width)
            heads = min(self.head_choices(width)) if takes_heads(mixer) else None
            yield {"mixer": mixer, "depth": min(self.depth), "width": width,
                   "mlp_ratio": min(self.mlp_ratio), "patch_size": patch, "heads": heads}

    # -- how results.md and pareto.png show a candidate ---------------------------------
    def table_columns(self) -> list[tuple[str, str]]:
        """(header, markdown alignment) of the candidate's columns in results.md."""
        return [("mixer", "---"), ("depth", "---:"), ("width", "---:"),
                ("mlp ratio", "---:"), ("patch", "---:"), ("heads", "---:")]

    def table_cells(self, c: Mapping[str, Any]) -> list[str]:
        return [c["mixer"], str(c["depth"]), str(c["width"]), f"{c['mlp_ratio']:g}",
                str(c["patch_size"]), str(c["heads"] or "-")]

    def plot_group(self, c: Mapping[str, Any]) -> str:
        """The colour group of ``c`` in pareto.png: its mixer."""
        return c["mixer"]


def pick(rng: np.random.Generator, choices):
    """One of ``choices`` (a sequence), uniformly."""
    return choices[int(rng.integers(len(choices)))]


# -- reading the space from a search config ----------------------------------------------

def space_from_config(values: Mapping[str, Any], where: str):
    """The ``space`` of a search config, checked (one-line ``UserError`` otherwise): a
    ``StagedSearchSpace`` (staged_space.py) when it sets ``stages``, else a ``SearchSpace``."""
    if "stages" in values:
        from mixer_vit.search.staged_space import staged_space_from_config

        return staged_space_from_config(values, where)
    values = dict(values)
    check_space_keys(values, DIMENSIONS, DIMENSIONS[:-1], where)
    choices = {dim: parse_choices(values.get(dim, ()), dim, where) for dim in DIMENSIONS}
    kwargs = parse_mixer_kwargs(values, where)
    check_mixers(choices["mixer"], choices["width"], choices["heads"], kwargs, where)
    return SearchSpace(**choices, mixer_kwargs=kwargs)


def check_space_keys(values: Mapping[str, Any], dimensions: tuple[str, ...],
                     required: tuple[str, ...], where: str) -> None:
    """``UserError`` for a key of the space that is no dimension, or a required one missing."""
    unknown = sorted(set(values) - set(dimensions) - {"mixer_kwargs"})
    if unknown:
        raise UserError(f"search config {where}: space has no dimension {unknown[0]}; "
                        f"the dimensions are {', '.join(dimensions)} (and mixer_kwargs)")
    for dim in required:
        if dim not in values:
            raise UserError(f"search config {where}: space lacks {dim}; give its choices "
                            f"as a tuple")


def parse_choices(raw: Any, dim: str, where: str, label: str | None = None) -> tuple:
    """The choices of one dimension as a tuple, checked: not empty (but ``heads``), no
    repeats, registered mixers, positive integers (positive numbers, as floats, for
    ``mlp_ratio``). ``label`` names them in messages (default ``dim``, e.g. ``width[1]``)."""
    from mixer_vit.layers.mixers import list_mixers

    label = label or dim
    raw = (raw,) if isinstance(raw, (str, int, float)) else tuple(raw)
    if dim != "heads" and not raw:
        raise UserError(f"search config {where}: space.{label} is empty; give at least "
                        f"one choice")
    if len(set(raw)) != len(raw):
        raise UserError(f"search config {where}: space.{label} {raw} repeats a choice")
    for v in raw:
        if dim == "mixer":
            if v not in list_mixers():
                raise UserError(f"search config {where}: unknown token mixer {v!r} in "
                                f"space.{label}; registered mixers: {', '.join(list_mixers())}")
        elif dim == "mlp_ratio":
            if isinstance(v, bool) or not isinstance(v, (int, float)) or v <= 0:
                raise UserError(f"search config {where}: space.{label} choice {v!r} is not "
                                f"a positive number")
        elif isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise UserError(f"search config {where}: space.{label} choice {v!r} is not "
                            f"a positive integer")
    return tuple(float(v) for v in raw) if dim == "mlp_ratio" else raw


def parse_mixer_kwargs(values: Mapping[str, Any], where: str) -> dict[str, dict[str, Any]]:
    """``space.mixer_kwargs`` as plain dicts; ``UserError`` for an unknown mixer in it
    (kwargs of registered mixers that are not searched are allowed, and unused)."""
    from mixer_vit.layers.mixers import list_mixers

    kwargs = {k: dict(v) for k, v in dict(values.get("mixer_kwargs") or {}).items()}
    for mixer in kwargs:
        if mixer not in list_mixers():
            raise UserError(f"search config {where}: space.mixer_kwargs names unknown token "
                            f"mixer {mixer!r}; registered mixers: {', '.join(list_mixers())}")
    return kwargs


def check_mixers(mixers: tuple[str, ...], widths: tuple[int, ...], heads: tuple[int, ...],
                 mixer_kwargs: Mapping[str, Mapping[str, Any]], where: str) -> None:
    """``UserError`` unless every mixer gets exactly the hyper-parameters it needs from
    ``mixer_kwargs`` (``num_heads`` from ``heads``) and, for a mixer with heads, some
    head count divides each of ``widths``."""
    for mixer in mixers:
        fields = _mixer_fields(mixer)
        names = {f.name for f in fields}
        given = dict(mixer_kwargs.get(mixer, {}))
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
            if not heads:
                raise UserError(f"search config {where}: mixer {mixer} takes num_heads but "
                                f"space.heads is empty; give head counts, e.g. (1, 2, 4)")
            for w in widths:
                if not head_choices(heads, w):
                    raise UserError(f"search config {where}: no choice of space.heads "
                                    f"{heads} divides width {w}; add a divisor or drop "
                                    f"the width")
