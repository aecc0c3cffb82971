"""Token-mixer registry: the one place that maps a mixer name to its Module class.

A token mixer mixes information across tokens: ``[B, N, D] -> [B, N, D]``.
Every registered mixer

* is a ``flax.linen.Module`` called as ``mixer(x, *, deterministic=bool, grid=(H, W))``,
  where ``x`` is ``[B, N, D]`` and its last ``H * W`` tokens are the patch grid in
  row-major order (any others, e.g. a class token, come first). Spatial mixers (pooling,
  depthwise convolution, window attention) reshape those to ``[B, H, W, D]``; the others
  ignore ``grid``;
* takes its hyper-parameters as keyword attributes (``num_heads`` for
  ``"attention"``, ``tokens_mlp_dim`` for ``"mlp"``, ...);
* has a ``dtype`` attribute (the compute dtype), which the backbone always sets.

Adding a mixer is one file in ``layers/`` with ``@register_mixer("name")`` on the
class, plus one import line in ``layers/__init__.py``.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, TypeVar

import flax.linen as nn

_MIXERS: dict[str, type[nn.Module]] = {}

ModuleClass = TypeVar("ModuleClass", bound=type)


def register_mixer(name: str) -> Callable[[ModuleClass], ModuleClass]:
    """Class decorator that registers a token-mixer Module under ``name``."""

    def decorate(cls: ModuleClass) -> ModuleClass:
        if name in _MIXERS and _MIXERS[name] is not cls:
            raise ValueError(
                f"Token mixer '{name}' is already registered by {_MIXERS[name].__name__}."
            )
        _MIXERS[name] = cls
        return cls

    return decorate


def list_mixers() -> list[str]:
    """Sorted names of all registered token mixers."""
    return sorted(_MIXERS)


def get_mixer(name: str) -> type[nn.Module]:
    """The Module class registered as ``name``; ``ValueError`` if there is none."""
    try:
        return _MIXERS[name]
    except KeyError:
        raise ValueError(
            f"Unknown token mixer '{name}'; known mixers: {', '.join(list_mixers())}."
        ) from None


def mixer_hyperparameters(name: str) -> list[str]:
    """Keyword attributes the mixer ``name`` accepts (``dtype`` included, ``name``/``parent`` not)."""
    fields = dataclasses.fields(get_mixer(name))
    return [f.name for f in fields if f.name not in ("parent", "name")]


def check_mixer_kwargs(name: str, kwargs: dict[str, Any]) -> None:
    """Raise a one-line ``ValueError`` if ``kwargs`` has keys the mixer ``name`` does not take."""
    valid = mixer_hyperparameters(name)
    unknown = sorted(set(kwargs) - set(valid))
    if unknown:
        raise ValueError(
            f"Token mixer '{name}' got unknown hyper-parameter(s) {', '.join(unknown)}; "
            f"it accepts: {', '.join(valid)}."
        )


def with_gelu_form(mixer: str, kwargs: dict[str, Any], gelu: str) -> dict[str, Any]:
    """``kwargs`` plus ``gelu=gelu`` when the mixer ``mixer`` has a ``gelu`` field (an MLP
    mixer) and ``kwargs`` does not set it; otherwise ``kwargs`` unchanged."""
    if "gelu" in kwargs or "gelu" not in mixer_hyperparameters(mixer):
        return dict(kwargs)
    return {**kwargs, "gelu": gelu}


def make_mixer(mixer: str, **kwargs: Any) -> nn.Module:
    """Instantiate the mixer registered as ``mixer`` with checked keyword attributes.

    ``name=`` (the Flax submodule name) may be passed along with the hyper-parameters.
    """
    module_name = kwargs.pop("name", None)
    check_mixer_kwargs(mixer, kwargs)
    return get_mixer(mixer)(**kwargs, name=module_name)
