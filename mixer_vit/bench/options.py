"""What ``mixer-vit bench`` measures: parsed and validated flags, before anything compiles.

Every mistake (unknown model, mode or dtype, a batch the devices cannot split, a bad
``--override``) is a one-line ``UserError``.
"""

from __future__ import annotations

import ast
import dataclasses
import difflib
from typing import Any

import jax
import jax.numpy as jnp

from mixer_vit.errors import UserError
from mixer_vit.models import list_models, model_fields

MODES = ("inference", "train", "train_sam")
DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}


@dataclasses.dataclass(frozen=True)
class BenchOptions:
    models: tuple[str, ...]
    image_sizes: tuple[int, ...]
    batch_sizes: tuple[int, ...]
    dtypes: tuple[str, ...]
    modes: tuple[str, ...]
    repeats: int
    warmup: int
    out: str | None
    vs_timm: bool
    scan: bool
    overrides: dict[str, Any]


def split_list(flag: str, value: str) -> list[str]:
    items = [v.strip() for v in str(value).split(",") if v.strip()]
    if not items:
        raise UserError(f"--{flag} is empty; give a comma-separated list")
    return items


def int_list(flag: str, value: str) -> tuple[int, ...]:
    try:
        numbers = tuple(int(v) for v in split_list(flag, value))
    except ValueError:
        raise UserError(f"--{flag} must be comma-separated integers, got {value!r}") from None
    if min(numbers) < 1:
        raise UserError(f"--{flag} values must be >= 1, got {value!r}")
    return numbers


def choices(flag: str, value: str, allowed) -> tuple[str, ...]:
    items = tuple(split_list(flag, value))
    for item in items:
        if item not in allowed:
            raise UserError(f"unknown --{flag} value {item!r}; choose from {', '.join(allowed)}")
    return items


def check_models(value: str) -> tuple[str, ...]:
    names = tuple(split_list("models", value))
    known = list_models()
    for name in names:
        if name not in known:
            close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            raise UserError(f"unknown model {name!r}{hint}; `mixer-vit models` lists them")
    return names


def parse_overrides(value: str | None) -> dict[str, Any]:
    """``"patch_size=8,embed_dim=32,mixer_kwargs.num_heads=2"`` -> nested dict of literals."""
    overrides: dict[str, Any] = {}
    for item in split_list("override", value) if value else []:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise UserError(f"--override items are key=value, got {item!r}")
        try:
            parsed = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            parsed = text
        *parents, leaf = key.split(".")
        node = overrides
        for parent in parents:
            node = node.setdefault(parent, {})
        node[leaf] = parsed
    return overrides


def check_batches(batch_sizes: tuple[int, ...]) -> None:
    n = jax.device_count()
    for b in batch_sizes:
        if b % n:
            raise UserError(
                f"batch size {b} is not divisible by the {n} devices; "
                f"use a multiple of {n} in --batch_sizes"
            )


def check_overrides(models: tuple[str, ...], overrides: dict[str, Any]) -> None:
    for name in models:
        unknown = sorted(set(overrides) - set(model_fields(name)))
        if unknown:
            raise UserError(
                f"--override {', '.join(unknown)} is not a field of {name}; "
                f"fields: {', '.join(model_fields(name))}"
            )


def bench_options(**flags: Any) -> BenchOptions:
    """Validated options from the raw flag values of ``mixer-vit bench``."""
    options = BenchOptions(
        models=check_models(flags["models"]),
        image_sizes=int_list("image_sizes", flags["image_sizes"]),
        batch_sizes=int_list("batch_sizes", flags["batch_sizes"]),
        dtypes=choices("dtypes", flags["dtypes"], tuple(DTYPES)),
        modes=choices("modes", flags["modes"], MODES),
        repeats=flags["repeats"],
        warmup=flags["warmup"],
        out=flags["out"],
        vs_timm=bool(flags["vs_timm"]),
        scan=bool(flags["scan"]),
        overrides=parse_overrides(flags.get("override")),
    )
    if options.repeats < 1 or options.warmup < 0:
        raise UserError("--repeats must be >= 1 and --warmup >= 0")
    check_batches(options.batch_sizes)
    check_overrides(options.models, options.overrides)
    return options
