"""What ``mixer-vit bench`` measures: parsed and validated flags, before anything compiles.

Every mistake (unknown model, mode or dtype, a value listed twice, a batch the devices
cannot split, a bad ``--override``, an ``--out`` that is a file or already holds results)
is a one-line ``UserError``, raised before the first row compiles.
"""

from __future__ import annotations

import ast
import dataclasses
import difflib
import functools
import os
from typing import Any

import jax
import jax.numpy as jnp

from mixer_vit.bench.report import OUTPUT_FILES
from mixer_vit.errors import UserError
from mixer_vit.models import create_model, list_models, model_fields

MODES = ("inference", "train", "train_sam")
DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}


@dataclasses.dataclass(frozen=True)
class BenchOptions:
    models: tuple[str, ...]
    image_sizes: tuple[int, ...]
    batch_sizes: tuple[int, ...]
    channels: int
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
    twice = next((item for i, item in enumerate(items) if item in items[:i]), None)
    if twice is not None:
        raise UserError(f"--{flag} lists {twice!r} twice; give each value once")
    return items


def int_list(flag: str, value: str) -> tuple[int, ...]:
    items = split_list(flag, value)
    try:
        numbers = tuple(int(v) for v in items)
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


def check_models_trace(
    models: tuple[str, ...],
    image_sizes: tuple[int, ...],
    overrides: dict[str, Any],
    text: str,
    channels: int = 3,
) -> None:
    """Builds and traces (shapes only, one image) each model at each resolution, so a
    resolution the model cannot take, or an ``--override`` value of the wrong kind, fails
    here rather than minutes into the run (ViT-B/16: ~1 s per model and resolution)."""
    with_overrides = f" with --override {text}" if overrides else ""
    for name in models:
        for size in image_sizes:
            image = jax.ShapeDtypeStruct((1, size, size, channels), jnp.float32)
            try:
                model = create_model(name, **overrides)
                init = functools.partial(model.init, jax.random.PRNGKey(0), train=False)
                jax.eval_shape(init, image)
            except (TypeError, ValueError, AttributeError, KeyError, IndexError) as e:
                reason = " ".join(str(e).split("\n")[0].split()) or type(e).__name__
                raise UserError(f"{name} at {size}x{size}{with_overrides}: {reason}") from None


def check_out(out: str | None) -> None:
    """``--out`` must be a directory (created here if missing) without earlier results."""
    if out is None:
        return
    if os.path.exists(out) and not os.path.isdir(out):
        raise UserError(f"--out {out} is a file; give a directory (created if missing)")
    taken = [f for f in OUTPUT_FILES if os.path.exists(os.path.join(out, f))]
    if taken:
        raise UserError(
            f"--out {out} already holds {' and '.join(taken)}; give a new directory "
            "or move the old files away (nothing is overwritten)"
        )
    try:
        os.makedirs(out, exist_ok=True)
    except OSError as e:
        raise UserError(f"cannot create --out {out}: {e.strerror}") from None
    if not os.access(out, os.W_OK):
        raise UserError(f"--out {out} is not writable; give a directory you can write to")


def bench_options(**flags: Any) -> BenchOptions:
    """Validated options from the raw flag values of ``mixer-vit bench``."""
    options = BenchOptions(
        models=check_models(flags["models"]),
        image_sizes=int_list("image_sizes", flags["image_sizes"]),
        batch_sizes=int_list("batch_sizes", flags["batch_sizes"]),
        channels=flags.get("channels", 3),
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
    if options.channels < 1:
        raise UserError(f"--channels must be >= 1 (1 for grey images), got {options.channels}")
    check_batches(options.batch_sizes)
    check_overrides(options.models, options.overrides)
    check_models_trace(
        options.models,
        options.image_sizes,
        options.overrides,
        flags.get("override") or "",
        options.channels,
    )
    check_out(options.out)
    return options
