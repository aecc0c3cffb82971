"""The input of a classifier's head (its pre-logits embedding), read without changing
model code.

Every model here ends in one ``nn.Dense`` that maps a ``[B, D]`` embedding to ``[B, K]``
logits: ``head`` for the models built on ``layers/classifier_head.py`` (ViT, Mixer,
ResMLP, CaiT, Swin, MetaFormers, ConvMixer, BiT), ``fc`` for ResNet, ``classifier`` for
EfficientNet. :class:`HeadInputRecorder` is a ``flax.linen.intercept_methods``
interceptor that records the input of every ``nn.Dense`` call; :meth:`features` then
returns the input of the Dense named ``head`` whose width is K, or, when there is none,
of the last ``nn.Dense`` called whose output width is K. (A distilled DeiT averages two
heads; its features are the class token's, the input of ``head``.)
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax

HEAD_NAME = "head"


class HeadInputRecorder:
    """Use as ``with nn.intercept_methods(recorder): logits = model.apply(...)``, then
    ``recorder.features(num_classes)``. Works inside ``jax.jit`` (it records tracers of
    the same trace)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str | None, int, Any]] = []  # (name, features, input)

    def __call__(self, next_fun, args, kwargs, context):
        module = context.module
        if isinstance(module, nn.Dense) and context.method_name == "__call__" and args:
            self.calls.append((module.name, module.features, args[0]))
        return next_fun(*args, **kwargs)

    def features(self, num_classes: int) -> jax.Array:
        """The recorded head input ``[B, D]`` (see the module docstring)."""
        to_classes = [(name, x) for name, width, x in self.calls if width == num_classes]
        named = [x for name, x in to_classes if name == HEAD_NAME]
        if named:
            return named[0]
        if not to_classes:
            raise ValueError(
                f"no nn.Dense with {num_classes} outputs was called: the model has no "
                f"classifier head whose input could be read"
            )
        return to_classes[-1][1]
