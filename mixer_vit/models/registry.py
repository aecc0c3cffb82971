"""Model registry: ``register_model`` / ``create_model`` / ``list_models``.

A registered constructor is a function ``constructor(**overrides) -> nn.Module``
that builds the named variant; ``overrides`` are fields of the returned module
(``num_classes=10``, ``patch_size=2``, ``depth=4``, ``drop_path_rate=0.1``,
``dtype=jnp.bfloat16``, ...).
"""

from __future__ import annotations

import dataclasses
import difflib
import fnmatch
import re
from typing import Any, Callable

import flax.linen as nn

from mixer_vit.errors import UserError

DEFAULT_IMAGE_SIZE = 224

Constructor = Callable[..., nn.Module]


@dataclasses.dataclass(frozen=True)
class _Entry:
    constructor: Constructor
    default_image_size: int


_MODELS: dict[str, _Entry] = {}


def register_model(
    name: str, *, default_image_size: int = DEFAULT_IMAGE_SIZE
) -> Callable[[Constructor], Constructor]:
    """Decorator registering ``constructor(**overrides) -> nn.Module`` under ``name``."""

    def decorate(constructor: Constructor) -> Constructor:
        if name in _MODELS:
            raise ValueError(f"Model '{name}' is already registered.")
        _MODELS[name] = _Entry(constructor, default_image_size)
        return constructor

    return decorate


def list_models(pattern: str | None = None) -> list[str]:
    """Sorted registered model names, optionally filtered by a glob (e.g. ``"vit_*"``)."""
    names = sorted(_MODELS)
    return names if pattern is None else [n for n in names if fnmatch.fnmatchcase(n, pattern)]


def search_models(regex: str | None = None) -> list[str]:
    """Sorted registered names that ``regex`` matches anywhere (``re.search``; all when
    None). Raises a one-line ``UserError`` when ``regex`` is not a regular expression."""
    if regex is None:
        return list_models()
    try:
        compiled = re.compile(regex)
    except re.error as e:
        raise UserError(
            f"model filter {regex!r} is not a regular expression ({e}); give one such as "
            "'vit_|mixer_' (a literal bracket is '\\[')"
        ) from None
    return [n for n in list_models() if compiled.search(n)]


def _entry(name: str) -> _Entry:
    try:
        return _MODELS[name]
    except KeyError:
        close = difflib.get_close_matches(name, list(_MODELS), n=3, cutoff=0.6)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise UserError(
            f"Unknown model '{name}'.{hint} Run `mixer-vit models` to list all models."
        ) from None


def model_default_image_size(name: str) -> int:
    """The square input resolution the variant ``name`` is defined at (224 unless stated)."""
    return _entry(name).default_image_size


def model_fields(name: str) -> list[str]:
    """The module fields of ``name`` that ``create_model`` accepts as overrides."""
    module = _entry(name).constructor()
    return [f.name for f in dataclasses.fields(module) if f.name not in ("parent", "name")]


def create_model(name: str, **overrides: Any) -> nn.Module:
    """Build the registered model ``name`` (1000 classes unless overridden).

    Raises a one-line ``UserError`` for an unknown name (with close matches), an
    override that is not a field of the model, or a field value the model's own checks
    refuse (their ``ValueError``, e.g. ``depth=0``).
    """
    entry = _entry(name)
    valid = model_fields(name)
    unknown = sorted(set(overrides) - set(valid))
    if unknown:
        raise UserError(
            f"Unknown override(s) {', '.join(unknown)} for model '{name}'; valid overrides: {', '.join(valid)}."
        )
    try:
        return entry.constructor(**overrides)
    except ValueError as e:  # a model's own field checks (depth >= 1, rates in [0, 1), ...)
        if isinstance(e, UserError):
            raise
        raise UserError(f"model '{name}': {e}") from e
