"""The staged search space over the hierarchical (pyramid) MetaFormer
(``models/hierarchical_metaformer.py``, PoolFormer's backbone): every stage has its own
token mixer, depth, width, MLP ratio and heads, and the stem has a patch size (stride).
That is the MetaFormer-baselines / CAFormer idea: conv-like mixers early, attention late.

A candidate is a small dict, JSON as it is::

    {"patch_size": 4,
     "stages": [{"mixer": "pooling", "depth": 2, "width": 32, "mlp_ratio": 4.0,
                 "heads": None},
                {"mixer": "attention", "depth": 2, "width": 64, "mlp_ratio": 4.0,
                 "heads": 2}]}

with as many stages as the space's ``stages``. Within a stage the rules are the
isotropic space's (space.py): ``heads`` is ``None`` for a mixer without ``num_heads``,
else one of the head counts dividing the stage's width. The choices of ``mixer``,
``depth``, ``width`` and ``mlp_ratio`` are one tuple for every stage, or one tuple per
stage (e.g. ``width = ((32, 48), (64, 96))``); ``patch_size`` and ``heads`` are one
tuple. A candidate's stem is a ``2p - 1`` conv of stride ``p``, padding ``p - 1`` (an
``H x W`` image becomes a ``ceil(H/p) x ceil(W/p)`` grid; PoolFormer's 7x7 stride-4 stem
up to its padding), and every later stage halves the grid (rounding up): 28x28 at patch
4 gives 7x7, then 4x4.

A space with ``stages`` in a search config is this one (space.space_from_config); its
checks are the isotropic space's, per stage, as one-line ``UserError``\\ s.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from mixer_vit.errors import UserError
from mixer_vit.search.space import (
    alternatives,
    block_mixer_kwargs,
    check_mixers,
    check_space_keys,
    follow_mixer,
    head_choices,
    heads_reason,
    parse_choices,
    parse_mixer_kwargs,
    pick,
    ratio_text,
    takes_heads,
)

STAGE_DIMENSIONS = ("mixer", "depth", "width", "mlp_ratio", "heads")
SPACE_DIMENSIONS = ("stages", "mixer", "depth", "width", "mlp_ratio", "patch_size", "heads")
PER_STAGE = STAGE_DIMENSIONS[:-1]  # the dimensions whose choices may differ per stage


@dataclasses.dataclass(frozen=True)
class StagedSearchSpace:
    """``stages`` stages; per stage, the choices of mixer, depth, width and MLP ratio
    (``mixer[s]`` is stage s's tuple, ...); the stem's patch sizes; the head counts; fixed
    hyper-parameters per mixer."""

    stages: int
    mixer: tuple[tuple[str, ...], ...]
    depth: tuple[tuple[int, ...], ...]
    width: tuple[tuple[int, ...], ...]
    mlp_ratio: tuple[tuple[float, ...], ...]
    patch_size: tuple[int, ...]
    heads: tuple[int, ...] = ()
    mixer_kwargs: Mapping[str, Mapping[str, Any]] = dataclasses.field(default_factory=dict)

    # model fields the base config's model needs (settings.train_config): model_overrides' keys
    base_model_fields = ("depths", "dims", "stage_mixers", "stage_mixer_kwargs",
                         "stage_mlp_ratios", "patch_size", "stem_kernel_size", "stem_padding")
    base_model_kind = ("a hierarchical MetaFormer (poolformer_*, e.g. "
                       "'../configs/digits.py:poolformer')")

    def stage_choices(self, s: int) -> dict[str, tuple]:
        """Stage ``s``'s choices of mixer, depth, width and MLP ratio."""
        return {dim: getattr(self, dim)[s] for dim in PER_STAGE}

    # -- validity ----------------------------------------------------------------------
    def invalid_reason(self, c: Mapping[str, Any]) -> str | None:
        """Why the candidate ``c`` is not in the space, or None when it is."""
        if not isinstance(c, Mapping) or set(c) != {"patch_size", "stages"}:
            return f"keys {sorted(c)} are not ['patch_size', 'stages']"
        if c["patch_size"] not in self.patch_size:
            return f"patch_size {c['patch_size']!r} is not one of {self.patch_size}"
        if not isinstance(c["stages"], (list, tuple)) or len(c["stages"]) != self.stages:
            return f"stages is not a list of {self.stages} stages"
        for s, block in enumerate(c["stages"]):
            if not isinstance(block, Mapping) or set(block) != set(STAGE_DIMENSIONS):
                return f"stage {s}: keys are not {sorted(STAGE_DIMENSIONS)}"
            for dim, choices in self.stage_choices(s).items():
                if block[dim] not in choices:
                    return f"stage {s}: {dim} {block[dim]!r} is not one of {choices}"
            reason = heads_reason(self.heads, block)
            if reason:
                return f"stage {s}: {reason}"
        return None

    # -- drawing ----------------------------------------------------------------------
    def sample(self, rng: np.random.Generator) -> dict[str, Any]:
        """A uniform draw of every stage's dimensions (heads among the divisors of the
        stage's width), stage by stage, then the patch size."""
        stages = []
        for s in range(self.stages):
            block = {dim: pick(rng, choices) for dim, choices in self.stage_choices(s).items()}
            block["heads"] = (pick(rng, head_choices(self.heads, block["width"]))
                              if takes_heads(block["mixer"]) else None)
            stages.append(block)
        return {"patch_size": pick(rng, self.patch_size), "stages": stages}

    def mutable_dimensions(self, c: Mapping[str, Any]) -> list[str]:
        """What a mutation of ``c`` can change (another valid value exists):
        ``"stages.S.DIM"`` (DIM one of mixer, depth, width, mlp_ratio, heads) and
        ``"patch_size"``."""
        dims = [f"stages.{s}.{dim}" for s in range(self.stages) for dim in STAGE_DIMENSIONS
                if self._alternatives(c, s, dim)]
        if self._patch_alternatives(c):
            dims.append("patch_size")
        return dims

    def mutate(self, c: Mapping[str, Any], rng: np.random.Generator):
        """``(child, dimension)``: ``c`` with one dimension of one stage (or the patch
        size), drawn uniformly among the mutable ones, set to another of its valid values,
        drawn uniformly; a stage's mixer mutation that gains or loses ``num_heads`` also
        draws or drops that stage's ``heads``. ``(None, None)`` when nothing can change."""
        dims = self.mutable_dimensions(c)
        if not dims:
            return None, None
        label = pick(rng, dims)
        child = {"patch_size": c["patch_size"], "stages": [dict(b) for b in c["stages"]]}
        if label == "patch_size":
            child["patch_size"] = pick(rng, self._patch_alternatives(c))
            return child, label
        _, s, dim = label.split(".")
        block = child["stages"][int(s)]
        block[dim] = pick(rng, self._alternatives(c, int(s), dim))
        if dim == "mixer":
            follow_mixer(block, self.heads, rng)
        return child, label

    def _alternatives(self, c: Mapping[str, Any], s: int, dim: str) -> tuple:
        return alternatives(self.stage_choices(s), self.heads, c["stages"][s], dim)

    def _patch_alternatives(self, c: Mapping[str, Any]) -> tuple:
        return tuple(p for p in self.patch_size if p != c["patch_size"])

    # -- what a candidate stands for -----------------------------------------------------
    def name(self, c: Mapping[str, Any]) -> str:
        """A readable, unique folder name: ``p4-pooling.d2.w32.r4-attention.d2.w64.r4.h2``."""
        return "-".join([f"p{c['patch_size']}"] + [_stage_name(b) for b in c["stages"]])

    def model_overrides(self, c: Mapping[str, Any]) -> dict[str, Any]:
        """The ``model.overrides`` entries of the hierarchical MetaFormer the candidate
        sets in the base config (tuples, one entry per stage; stem from the patch size)."""
        stages, patch = c["stages"], int(c["patch_size"])
        return {
            "depths": tuple(int(b["depth"]) for b in stages),
            "dims": tuple(int(b["width"]) for b in stages),
            "stage_mixers": tuple(str(b["mixer"]) for b in stages),
            "stage_mixer_kwargs": tuple(
                block_mixer_kwargs(self.mixer_kwargs, b["mixer"], b["heads"]) for b in stages),
            "stage_mlp_ratios": tuple(float(b["mlp_ratio"]) for b in stages),
            "patch_size": patch,
            "stem_kernel_size": 2 * patch - 1,
            "stem_padding": patch - 1,
        }

    def size(self) -> int:
        """Number of distinct valid candidates."""
        total = len(self.patch_size)
        for s in range(self.stages):
            blocks = sum(len(head_choices(self.heads, w)) if takes_heads(m) else 1
                         for m in self.mixer[s] for w in self.width[s])
            total *= blocks * len(self.depth[s]) * len(self.mlp_ratio[s])
        return total

    def smallest_candidates(self) -> Iterator[dict[str, Any]]:
        """Per stage the least depth, width and MLP ratio (fewest heads), for each
        combination of the stages' mixers and each patch size (a generator: the
        constraint check stops at the first that meets the limits)."""
        for mixers in itertools.product(*self.mixer):
            for patch in self.patch_size:
                stages = []
                for s, mixer in enumerate(mixers):
                    width = min(self.width[s])
                    heads = min(head_choices(self.heads, width)) if takes_heads(mixer) else None
                    stages.append({"mixer": mixer, "depth": min(self.depth[s]), "width": width,
                                   "mlp_ratio": min(self.mlp_ratio[s]), "heads": heads})
                yield {"patch_size": patch, "stages": stages}

    # -- how results.md and pareto.png show a candidate ---------------------------------
    def table_columns(self) -> list[tuple[str, str]]:
        """(header, markdown alignment) of the candidate's columns in results.md."""
        return [("stages", "---"), ("patch", "---:")]

    def table_cells(self, c: Mapping[str, Any]) -> list[str]:
        """``pooling d2 w32 r4 \\| attention d2 w64 r4 h2`` (an escaped ``|`` between
        stages) and the patch size."""
        return [" \\| ".join(_stage_text(b) for b in c["stages"]), str(c["patch_size"])]

    def plot_group(self, c: Mapping[str, Any]) -> str:
        """The colour group of ``c`` in pareto.png: its mixers, stage by stage."""
        return " > ".join(b["mixer"] for b in c["stages"])


def _stage_name(b: Mapping[str, Any]) -> str:
    heads = f".h{b['heads']}" if b["heads"] is not None else ""
    return f"{b['mixer']}.d{b['depth']}.w{b['width']}.r{ratio_text(b['mlp_ratio'])}{heads}"


def _stage_text(b: Mapping[str, Any]) -> str:
    heads = f" h{b['heads']}" if b["heads"] is not None else ""
    return f"{b['mixer']} d{b['depth']} w{b['width']} r{b['mlp_ratio']:g}{heads}"


# -- reading the space from a search config ----------------------------------------------

def staged_space_from_config(values: Mapping[str, Any], where: str) -> StagedSearchSpace:
    """The ``space`` of a search config that sets ``stages``, checked (one-line
    ``UserError`` otherwise)."""
    values = dict(values)
    check_space_keys(values, SPACE_DIMENSIONS, SPACE_DIMENSIONS[:-1], where)
    stages = values["stages"]
    if isinstance(stages, bool) or not isinstance(stages, int) or stages < 1:
        raise UserError(f"search config {where}: space.stages must be a positive integer "
                        f"(the number of stages), got {stages!r}")
    per_stage = {dim: _per_stage_choices(values[dim], dim, stages, where) for dim in PER_STAGE}
    patch_size = parse_choices(values["patch_size"], "patch_size", where)
    heads = parse_choices(values.get("heads", ()), "heads", where)
    kwargs = parse_mixer_kwargs(values, where)
    for s in range(stages):
        check_mixers(per_stage["mixer"][s], per_stage["width"][s], heads, kwargs, where)
    return StagedSearchSpace(stages, **per_stage, patch_size=patch_size, heads=heads,
                             mixer_kwargs=kwargs)


def _per_stage_choices(raw: Any, dim: str, stages: int, where: str) -> tuple[tuple, ...]:
    """One tuple of choices per stage: ``raw`` itself for every stage, or, when every
    item of ``raw`` is a tuple, item s for stage s."""
    nested = [isinstance(v, (list, tuple)) for v in raw] if isinstance(raw, (list, tuple)) else []
    if nested and all(nested):
        if len(raw) != stages:
            raise UserError(f"search config {where}: space.{dim} gives {len(raw)} per-stage "
                            f"tuples for {stages} stages; give one tuple per stage, or one "
                            f"tuple for all stages")
        return tuple(parse_choices(v, dim, where, f"{dim}[{s}]") for s, v in enumerate(raw))
    if any(nested):
        raise UserError(f"search config {where}: space.{dim} mixes tuples and single "
                        f"choices; give one tuple for all stages, or one tuple per stage")
    return (parse_choices(raw, dim, where),) * stages

