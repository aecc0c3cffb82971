"""Which timm model corresponds to which of ours, and how its state dict converts.

A converter is ``converter(state_dict, model) -> {"params/a/b/kernel": array, ...}``: it
reads timm's numpy state dict (torch layouts) and returns a flat dict keyed by
collection and path (``params/...``, ``batch_stats/...``). ``convert_timm`` checks the
result against the model's own variables, strictly. A converter that declares a keyword
``image_size`` also gets the target resolution (e.g. to resample a position embedding
learned at another one).
"""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any, Callable, Mapping

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from mixer_vit.convert.tree_assign import ConversionError, assign_flat
from mixer_vit.models import create_model, model_default_image_size

TimmConverter = Callable[[Mapping[str, np.ndarray], nn.Module], dict[str, np.ndarray]]


@dataclasses.dataclass(frozen=True)
class TimmEntry:
    """``timm_kwargs``: keyword arguments of ``timm.create_model`` that make timm's model
    the same architecture as ours (for a model timm has no named variant of, e.g.
    ``{"img_size": 28, "patch_size": 4, "embed_dim": 128, ...}``)."""

    timm_name: str
    converter: TimmConverter
    timm_kwargs: Mapping[str, Any] = dataclasses.field(default_factory=dict)


_ENTRIES: dict[str, TimmEntry] = {}


def register_timm(
    our_name: str,
    timm_name: str,
    converter: TimmConverter,
    timm_kwargs: Mapping[str, Any] | None = None,
) -> None:
    """Declares that timm's ``timm_name`` (built with ``timm_kwargs``) converts into our
    ``our_name`` with ``converter``."""
    if our_name in _ENTRIES:
        raise ValueError(f"a timm converter for {our_name!r} is already registered")
    _ENTRIES[our_name] = TimmEntry(timm_name, converter, dict(timm_kwargs or {}))


def timm_converters() -> dict[str, TimmEntry]:
    """Our model name -> its timm counterpart and converter."""
    return dict(_ENTRIES)


def abstract_variables(model: nn.Module, image_size: int, channels: int = 3) -> dict[str, Any]:
    """The model's variables as shapes only (nothing allocated)."""
    images = jax.ShapeDtypeStruct((1, image_size, image_size, channels), jnp.float32)
    return jax.eval_shape(lambda x: model.init(jax.random.PRNGKey(0), x, train=False), images)


def convert_timm(
    our_name: str,
    state_dict: Mapping[str, np.ndarray],
    image_size: int | None = None,
    channels: int = 3,
    **overrides: Any,
) -> tuple[nn.Module, dict[str, Any]]:
    """Builds ``our_name`` (with ``overrides``) and fills its variables from a timm state
    dict (numpy arrays, torch layouts).

    Returns:
      (model, variables) ready for ``model.apply(variables, images [B, S, S, C])`` with
      S = ``image_size`` (default: the model's default resolution), C = ``channels``.
    Raises:
      ConversionError: no converter for the model, or keys that don't fit (named).
    """
    if our_name not in _ENTRIES:
        raise ConversionError(
            f"no timm converter for {our_name!r}; models with one: {', '.join(sorted(_ENTRIES))}"
        )
    model = create_model(our_name, **overrides)
    image_size = image_size or model_default_image_size(our_name)
    template = abstract_variables(model, image_size, channels)
    converter = _ENTRIES[our_name].converter
    if "image_size" in inspect.signature(converter).parameters:
        flat = converter(state_dict, model, image_size=image_size)
    else:
        flat = converter(state_dict, model)
    return model, assign_flat(template, flat)
