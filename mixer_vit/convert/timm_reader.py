"""A strict reader of timm state dicts: every timm key is used exactly once, or it's an error.

Converters move timm tensors into a flat ``{"params/a/b/kernel": array}`` dict with the
right layout changes; ``result()`` refuses to finish while any timm key went unread, so
a weight the model would silently drop (a norm we don't have, a second head) is named.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import numpy as np

from mixer_vit.convert.torch_layouts import conv_kernel, linear_kernel
from mixer_vit.convert.tree_assign import ConversionError


class TimmReader:
    """Wraps a timm state dict (numpy arrays, torch layouts) and collects the flat result.

    Targets are our module paths without the collection (``"blocks_0/mlp/fc1"``); the
    reader writes ``params/<target>/<leaf>``.
    """

    def __init__(self, state_dict: Mapping[str, np.ndarray]):
        self._source = dict(state_dict)
        self._unread = set(self._source)
        self.flat: dict[str, np.ndarray] = {}

    def has(self, key: str) -> bool:
        return key in self._source

    def take(self, key: str) -> np.ndarray:
        """The timm tensor ``key`` as float32 numpy, marked as read."""
        if key not in self._source:
            raise ConversionError(f"timm state dict has no {key!r}; is it the right model?")
        self._unread.discard(key)
        return np.asarray(self._source[key], dtype=np.float32)

    def put(self, target: str, value: np.ndarray) -> None:
        """Stores ``value`` as ``params/<target>``."""
        self.flat[f"params/{target}"] = value

    def copy(self, key: str, target: str) -> None:
        """A tensor whose layout is the same on both sides (tokens, layer-scale gains)."""
        self.put(target, self.take(key))

    def linear(self, prefix: str, target: str) -> None:
        """torch ``Linear`` ``{weight [out, in], bias}`` -> Dense ``{kernel [in, out], bias}``."""
        self.put(f"{target}/kernel", linear_kernel(self.take(f"{prefix}.weight")))
        if self.has(f"{prefix}.bias"):
            self.put(f"{target}/bias", self.take(f"{prefix}.bias"))

    def conv(self, prefix: str, target: str) -> None:
        """torch ``Conv2d`` (OIHW) -> flax ``Conv`` (HWIO) kernel and bias."""
        self.put(f"{target}/kernel", conv_kernel(self.take(f"{prefix}.weight")))
        if self.has(f"{prefix}.bias"):
            self.put(f"{target}/bias", self.take(f"{prefix}.bias"))

    def norm(self, prefix: str, target: str) -> None:
        """torch ``LayerNorm`` ``{weight, bias}`` -> flax ``{scale, bias}``."""
        self.put(f"{target}/scale", self.take(f"{prefix}.weight"))
        self.put(f"{target}/bias", self.take(f"{prefix}.bias"))

    def num_indexed(self, prefix: str) -> int:
        """How many ``prefix.{i}.*`` modules there are (e.g. transformer blocks)."""
        pattern = re.compile(rf"^{re.escape(prefix)}\.(\d+)\.")
        indices = {int(m.group(1)) for k in self._source if (m := pattern.match(k))}
        return max(indices) + 1 if indices else 0

    def result(self) -> dict[str, np.ndarray]:
        """The flat dict; ``ConversionError`` naming the timm keys nothing read."""
        if self._unread:
            unread = sorted(self._unread)
            more = f" (+{len(unread) - 8} more)" if len(unread) > 8 else ""
            raise ConversionError(
                f"timm weights with no place in the model: {', '.join(unread[:8])}{more}; "
                "is it the right model?"
            )
        return self.flat
