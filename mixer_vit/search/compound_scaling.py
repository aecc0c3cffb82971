"""Compound scaling (EfficientNet, Tan & Le 2019) of an isotropic MetaFormer: depth,
width and image resolution grown together by ``alpha**phi``, ``beta**phi`` and
``gamma**phi``, with ``alpha * beta**2 * gamma**2 ~ 2`` so that each step of ``phi`` about
doubles the FLOPs; and the single-axis models (depth only, width only, resolution only)
whose measured FLOPs best match a target, for the comparison at equal cost.

Rounding (a scaled model must be buildable):

- depth ``round(d * alpha**phi)``, at least 1;
- width ``w * beta**phi`` to the nearest multiple of ``width_multiple`` (at least one
  multiple); choose ``width_multiple`` as a multiple of the attention heads so that they
  still divide the width (EfficientNet rounds channels to multiples of 8);
- resolution ``r * gamma**phi`` to the nearest multiple of the patch size (at least one
  patch), so that the patches tile the image.

"Nearest" rounds halves up (2.5 -> 3), not to even as Python's ``round`` does. A tiny
tolerance absorbs floating-point noise (``50 * 1.15`` is 57.49999999999999, rounded to 58).

FLOPs are whatever ``gflops(shape)`` returns; ``xla_gflops`` measures them with XLA's
cost analysis (``bench/flops.py``: a multiply-add is 2 FLOPs, so about twice the GMACs
papers quote as "FLOPs"; the ratios compared here are the same in both conventions).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import math
import re
from collections.abc import Callable, Mapping
from typing import Any

from mixer_vit.errors import UserError

AXES = ("depth", "width", "resolution")
TARGET_PRODUCT = 2.0  # alpha * beta**2 * gamma**2: FLOPs double per step of phi
_EPS = 1e-9


@dataclasses.dataclass(frozen=True)
class ModelShape:
    """What scaling changes: blocks, embedding width, image side (square images)."""

    depth: int
    width: int
    resolution: int

    @property
    def name(self) -> str:
        return f"d{self.depth}-w{self.width}-r{self.resolution}"


@dataclasses.dataclass(frozen=True)
class ScalingBase:
    """The base model's shape and the rounding units of its width and resolution."""

    depth: int
    width: int
    resolution: int
    patch_size: int
    width_multiple: int

    def __post_init__(self):
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise UserError(f"compound scaling base: {field.name} must be a positive "
                                f"integer, got {value!r}")
        if self.width % self.width_multiple:
            raise UserError(f"compound scaling base: width {self.width} is not a multiple of "
                            f"width_multiple {self.width_multiple}; pick a multiple")
        if self.resolution % self.patch_size:
            raise UserError(f"compound scaling base: resolution {self.resolution} is not a "
                            f"multiple of patch_size {self.patch_size}; pick a multiple")

    @property
    def shape(self) -> ModelShape:
        return ModelShape(self.depth, self.width, self.resolution)


def round_to_multiple(value: float, multiple: int) -> int:
    """``value`` to the nearest multiple of ``multiple`` (halves up), at least ``multiple``."""
    return max(multiple, multiple * math.floor(value / multiple + 0.5 + _EPS))


def scaled(base: ScalingBase, alpha: float, beta: float, gamma: float,
           phi: float) -> ModelShape:
    """The base scaled by depth ``alpha**phi``, width ``beta**phi`` and resolution
    ``gamma**phi``, rounded as the module docstring says."""
    for name, value in (("alpha", alpha), ("beta", beta), ("gamma", gamma)):
        if value < 1:
            raise UserError(f"compound scaling: {name} {value!r} is below 1; coefficients "
                            f"grow the model (alpha, beta, gamma >= 1)")
    return ModelShape(
        depth=round_to_multiple(base.depth * alpha**phi, 1),
        width=round_to_multiple(base.width * beta**phi, base.width_multiple),
        resolution=round_to_multiple(base.resolution * gamma**phi, base.patch_size),
    )


def grid(step: float, tolerance: float = 0.1) -> list[tuple[float, float, float]]:
    """Every ``(alpha, beta, gamma)`` on the lattice ``1 + k * step`` (k = 0, 1, ...) with
    ``|alpha * beta**2 * gamma**2 - 2| <= tolerance``; sorted, values rounded to 10 digits."""
    if not 0 < step <= 1:
        raise UserError(f"compound scaling grid: step {step!r} must be in (0, 1], e.g. 0.05")
    if not 0 <= tolerance < 1:
        raise UserError(f"compound scaling grid: tolerance {tolerance!r} must be in [0, 1)")
    top = TARGET_PRODUCT + tolerance
    values = [round(1 + k * step, 10) for k in range(int((top - 1) / step + _EPS) + 1)]
    points = []
    for alpha in values:
        for beta in values:
            for gamma in values:
                if abs(alpha * beta**2 * gamma**2 - TARGET_PRODUCT) <= tolerance + _EPS:
                    points.append((alpha, beta, gamma))
    return points


def distinct_models(base: ScalingBase, points, phi: float = 1) -> dict[ModelShape, tuple]:
    """The different models the points give at ``phi`` (rounding maps several points to
    one model), each with the first point giving it, in the points' order."""
    models: dict[ModelShape, tuple] = {}
    for point in points:
        models.setdefault(scaled(base, *point, phi), tuple(point))
    return models


def axis_values(base: ScalingBase, axis: str) -> Callable[[int], int]:
    """k -> the k-th value (k >= 1) of ``axis``: depth k, width k multiples, resolution k
    patches."""
    unit = {"depth": 1, "width": base.width_multiple, "resolution": base.patch_size}[axis]
    return lambda k: k * unit


def with_axis(base: ScalingBase, axis: str, value: int) -> ModelShape:
    """The base shape with one axis set to ``value``."""
    return dataclasses.replace(base.shape, **{axis: value})


def single_axis(base: ScalingBase, axis: str, target_gflops: float,
                gflops: Callable[[ModelShape], float], max_steps: int = 4096) -> ModelShape:
    """The model that changes only ``axis`` of the base (depth, width in multiples of
    ``width_multiple``, resolution in multiples of the patch size) whose FLOPs are the
    closest to ``target_gflops`` (a tie: the smaller model).

    ``gflops`` must grow with the axis. The search brackets the target from the base's
    value (doubling), then narrows the bracket with interpolated probes (a bisection
    whenever probes fail to halve it), so it measures a handful of models: the answer
    is the exact closest one, since the final bracket is two neighbouring values."""
    if axis not in AXES:
        raise UserError(f"compound scaling: unknown axis {axis!r}; axes: {', '.join(AXES)}")
    if not target_gflops > 0:
        raise UserError(f"compound scaling: target GFLOPs must be > 0, got {target_gflops!r}")
    value = axis_values(base, axis)

    @functools.lru_cache(maxsize=None)
    def cost(k: int) -> float:  # k = 0 stands for "nothing": 0 FLOPs
        return gflops(with_axis(base, axis, value(k))) if k else 0.0

    start = getattr(base.shape, axis) // value(1)
    if cost(start) >= target_gflops:
        low, high = 0, start
    else:
        low, high = start, 2 * start
        while cost(high) < target_gflops:
            low, high = high, 2 * high
            if high > max_steps:
                raise UserError(f"compound scaling: no {axis} up to {value(max_steps)} "
                                f"reaches {target_gflops:.4g} GFLOPs")
    bisect = False
    while high - low > 1:  # cost(low) < target <= cost(high)
        before = high - low
        if bisect:
            probes = [(low + high) // 2]
        else:  # the interpolated value's floor, and the next one when the floor is below
            guess = low + (target_gflops - cost(low)) * (high - low) / (cost(high) - cost(low))
            floor = min(high - 1, max(low + 1, math.floor(guess)))
            probes = [floor, floor + 1] if floor + 1 < high else [floor]
        for probe in probes:
            if cost(probe) >= target_gflops:
                high = probe
                break
            low = probe
        bisect = 2 * (high - low) > before
    best = high
    if low >= 1 and abs(cost(low) - target_gflops) <= abs(cost(high) - target_gflops):
        best = low
    return with_axis(base, axis, value(best))


# -- naming grid points -----------------------------------------------------------------

_POINT_NAME = re.compile(r"^a(\d+)_b(\d+)_g(\d+)$")


def point_name(alpha: float, beta: float, gamma: float) -> str:
    """``(1.2, 1.1, 1.15)`` -> ``"a120_b110_g115"`` (hundredths; an arm name)."""
    return "_".join(f"{letter}{round(v * 100)}" for letter, v in zip("abg", (alpha, beta, gamma)))


def parse_point_name(name: str) -> tuple[float, float, float] | None:
    """The inverse of ``point_name``; None for another name."""
    match = _POINT_NAME.match(name)
    return tuple(int(g) / 100 for g in match.groups()) if match else None


def best_validation_point(results: Mapping[str, Any], where: str):
    """``((alpha, beta, gamma), arm, accuracy)``: the grid arm (named by ``point_name``)
    with the best mean validation accuracy in an experiment's ``results.json`` (its
    ``table``); a tie goes to the first arm in name order. ``UserError`` when it has none."""
    rows = []
    for arm, row in sorted(dict(results.get("table") or {}).items()):
        point = parse_point_name(arm)
        accuracy = (row.get("validation_accuracy") or {}).get("mean")
        if point is not None and isinstance(accuracy, (int, float)):
            rows.append((-float(accuracy), arm, point))
    if not rows:
        raise UserError(f"{where} has no grid arm (a120_b110_g115, ...) with a validation "
                        f"accuracy; finish `mixer-vit experiment compound_grid` or move the "
                        f"file away to use the default point")
    negative, arm, point = min(rows)
    return point, arm, -negative


# -- measuring ----------------------------------------------------------------------------

_MEASURED: dict[tuple, float] = {}  # (model, overrides JSON, channels, classes, shape) -> GFLOPs


def xla_gflops(model_name: str, overrides: Mapping[str, Any], channels: int = 1,
               num_classes: int = 10) -> Callable[[ModelShape], float]:
    """``gflops(shape)``: forward GFLOPs per image of ``create_model(model_name,
    **overrides, depth=, embed_dim=)`` on ``[resolution, resolution, channels]`` images,
    from XLA's cost analysis (each model measured once per process)."""
    fixed = dict(overrides)
    key = (model_name, json.dumps(fixed, sort_keys=True), channels, num_classes)

    def measure(shape: ModelShape) -> float:
        if (*key, shape) not in _MEASURED:
            from mixer_vit.bench.flops import forward_flops_per_image
            from mixer_vit.models import create_model

            model = create_model(model_name, **{**fixed, "depth": shape.depth,
                                                "embed_dim": shape.width,
                                                "num_classes": num_classes})
            quiet = logging.getLogger("mixer_vit.layers")  # per-model choices, not news here
            level = quiet.level
            quiet.setLevel(logging.WARNING)
            try:
                flops = forward_flops_per_image(model, (shape.resolution, shape.resolution,
                                                        channels))
            finally:
                quiet.setLevel(level)
            _MEASURED[(*key, shape)] = flops / 1e9
        return _MEASURED[(*key, shape)]

    return measure
