"""Hierarchical (4-stage, pyramid) MetaFormer: PoolFormer's backbone, any token mixer.

stem conv (7x7 stride 4 pad 2)
-> for each stage s: [downsample conv 3x3 stride 2 pad 1, if s > 0]
                     -> depths[s] x (norm -> token mixer -> layer-scale -> drop path -> residual,
                                     norm -> channel MLP -> layer-scale -> drop path -> residual)
-> global average pool -> norm -> dropout -> head Dense(num_classes)

timm's PoolFormer applies the final norm (LayerNorm, eps 1e-6) *after* pooling; with
``norm_before_pool=True`` it is applied per position before pooling instead (the original
PoolFormer code). Drop-path rates rise linearly from 0 to ``drop_path_rate`` over all
blocks of all stages.

Parameter tree (PoolFormer-S12 shown; ``stages_{s}/blocks_{b}``)::

    stem/conv/{kernel [7,7,3,64], bias [64]}
    stages_1/downsample/conv/{kernel [3,3,64,128], bias [128]}   (stages 1..3)
    stages_0/blocks_0/norm1/{scale, bias}
    stages_0/blocks_0/mixer/...                                  (pooling: none)
    stages_0/blocks_0/layer_scale1/scale [64]                    (layer_scale_init set)
    stages_0/blocks_0/norm2/{scale, bias}
    stages_0/blocks_0/mlp/{fc1 [64,256], fc2 [256,64]}/{kernel, bias}
    stages_0/blocks_0/layer_scale2/scale [64]
    norm/{scale, bias}
    head/{kernel [512,1000], bias [1000]}
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
from flax.core import FrozenDict

from mixer_vit.layers import DropPath, Mlp, check_mixer_kwargs, make_mixer
from mixer_vit.layers.gelu import check_gelu
from mixer_vit.layers.mixers import with_gelu_form
from mixer_vit.layers.classifier_head import classifier_head
from mixer_vit.layers.layer_scale import LayerScale

NORMS = ("group", "layer")


def linear_drop_path_rates(drop_path_rate: float, depths: Sequence[int]) -> list[list[float]]:
    """Per stage, per block: ``drop_path_rate * i / (total - 1)`` for the i-th block overall."""
    total = sum(depths)
    rates = [drop_path_rate * i / max(total - 1, 1) for i in range(total)]
    starts = [sum(depths[:s]) for s in range(len(depths))]
    return [rates[start : start + depth] for start, depth in zip(starts, depths)]


def block_norm(kind: str, eps: float, dtype: Any, name: str) -> nn.Module:
    """``"group"``: GroupNorm with one group (statistics over all of N and D per example);
    ``"layer"``: LayerNorm over D per token. Both have ``scale`` and ``bias`` [D]."""
    if kind == "group":
        return nn.GroupNorm(num_groups=1, epsilon=eps, dtype=dtype, name=name)
    return nn.LayerNorm(epsilon=eps, dtype=dtype, name=name)


class HierarchicalMetaFormerBlock(nn.Module):
    """One MetaFormer block on a ``[B, H*W, D]`` token grid (``grid=(H, W)``), same shape out."""

    mixer: str
    mixer_kwargs: Mapping[str, Any]
    mlp_dim: int
    norm: str = "group"
    norm_eps: float = 1e-5
    layer_scale_init: float | None = 1e-5
    dropout_rate: float = 0.0
    drop_path_rate: float = 0.0
    dtype: Any = jnp.float32
    gelu: str = "exact"

    @nn.compact
    def __call__(self, x: jax.Array, *, deterministic: bool, grid: tuple[int, int]) -> jax.Array:
        drop_path = DropPath(self.drop_path_rate)

        def gain(y, name):
            if self.layer_scale_init is None:
                return y
            return LayerScale(self.layer_scale_init, dtype=self.dtype, name=name)(y)

        y = block_norm(self.norm, self.norm_eps, self.dtype, "norm1")(x)
        mixer_kwargs = with_gelu_form(self.mixer, dict(self.mixer_kwargs), self.gelu)
        mixer = make_mixer(self.mixer, dtype=self.dtype, **mixer_kwargs, name="mixer")
        y = gain(mixer(y, deterministic=deterministic, grid=grid), "layer_scale1")
        x = x + drop_path(y, deterministic=deterministic)

        y = block_norm(self.norm, self.norm_eps, self.dtype, "norm2")(x)
        mlp = Mlp(
            self.mlp_dim, dropout=self.dropout_rate, dtype=self.dtype, gelu=self.gelu, name="mlp"
        )
        y = gain(mlp(y, deterministic=deterministic), "layer_scale2")
        x = x + drop_path(y, deterministic=deterministic)
        self.sow("intermediates", "output", x)  # [B, H*W, D]; only when collected
        return x


class ConvLayer(nn.Module):
    """A plain convolution ``[B, H, W, C] -> [B, H', W', features]`` (parameters ``conv/...``),
    named like timm's ``stem.conv`` / ``downsample.conv``."""

    features: int
    kernel_size: int
    stride: int
    padding: int
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        k, p = self.kernel_size, self.padding
        return nn.Conv(
            self.features,
            kernel_size=(k, k),
            strides=(self.stride, self.stride),
            padding=((p, p), (p, p)),
            dtype=self.dtype,
            name="conv",
        )(x)


class HierarchicalMetaFormerStage(nn.Module):
    """[3x3 stride-2 downsampling conv] then ``depth`` blocks: ``[B, H, W, C] -> [B, H', W', dim]``.

    ``block`` holds the block fields shared by all blocks (mixer, norm, ...), with
    ``mlp_ratio`` in place of ``mlp_dim``.
    """

    depth: int
    dim: int
    downsample: bool
    drop_path_rates: tuple[float, ...]
    block: Mapping[str, Any]

    @nn.compact
    def __call__(self, x: jax.Array, *, deterministic: bool) -> jax.Array:
        block = dict(self.block)
        mlp_dim = int(self.dim * block.pop("mlp_ratio"))
        if self.downsample:
            x = ConvLayer(self.dim, 3, 2, 1, dtype=block["dtype"], name="downsample")(x)
        batch, height, width, _ = x.shape
        tokens = x.reshape(batch, height * width, self.dim)
        for b in range(self.depth):
            tokens = HierarchicalMetaFormerBlock(
                **block, mlp_dim=mlp_dim, drop_path_rate=self.drop_path_rates[b], name=f"blocks_{b}"
            )(tokens, deterministic=deterministic, grid=(height, width))
        return tokens.reshape(batch, height, width, self.dim)


class HierarchicalMetaFormer(nn.Module):
    """Four-stage MetaFormer classifier: images ``[B, H, W, C]`` -> logits ``[B, num_classes]``.

    Call as ``model.apply(variables, images, train=bool, rngs={'dropout': key})``. Logits
    are float32 whatever ``dtype``; parameters stay float32. ``num_classes=0`` returns the
    pooled, normalised features ``[B, dims[-1]]``. Any image side >= ``patch_size`` works;
    stage ``s`` sees ``ceil``-halved grids of the stem's ``floor((H + 2p - k) / stride) + 1``.

    Attributes:
      depths: blocks per stage.
      dims: token width per stage (a downsampling conv sits between stages).
      mixer: registered token-mixer name ("pooling", "dwconv", "attention", ...).
      mixer_kwargs: the mixer's hyper-parameters (the backbone adds ``dtype``).
      mlp_ratio: channel-MLP hidden width is ``int(dim * mlp_ratio)``.
      stage_mixers: optional, one mixer name per stage, in place of ``mixer`` (e.g.
        ``("pooling", "pooling", "attention", "attention")``, conv-like mixers early and
        attention late as in the MetaFormer baselines / CAFormer). None: ``mixer`` everywhere.
      stage_mixer_kwargs: optional, one hyper-parameter mapping per stage, in place of
        ``mixer_kwargs``. None: ``mixer_kwargs`` for a stage whose mixer is ``mixer``, no
        hyper-parameters for another.
      stage_mlp_ratios: optional, one MLP ratio per stage, in place of ``mlp_ratio``.
        None: ``mlp_ratio`` everywhere. All three None (the default) is the one-mixer model.
      patch_size: stem stride (the stem is a ``stem_kernel_size`` conv, ``stem_padding``).
      norm: "group" (GroupNorm with 1 group, PoolFormer) or "layer" (LayerNorm per token).
      norm_eps: epsilon of the block norms (1e-5 for PoolFormer's GroupNorm).
      head_norm_eps: epsilon of the final LayerNorm (1e-6 in timm).
      norm_before_pool: final norm per position before pooling (original PoolFormer)
        instead of after pooling (timm).
      layer_scale_init: initial per-channel residual gain, or None for no layer-scale.
      dropout_rate: dropout in the channel MLP and before the head.
      drop_path_rate: stochastic depth of the last block; linear from 0 over all blocks.
      gelu: GELU form of the channel MLPs, ``"exact"`` (erf) or ``"tanh"``.
    """

    depths: Sequence[int] = (2, 2, 6, 2)
    dims: Sequence[int] = (64, 128, 320, 512)
    mixer: str = "pooling"
    mixer_kwargs: Mapping[str, Any] = FrozenDict()
    mlp_ratio: float = 4.0
    stage_mixers: Sequence[str] | None = None
    stage_mixer_kwargs: Sequence[Mapping[str, Any]] | None = None
    stage_mlp_ratios: Sequence[float] | None = None
    patch_size: int = 4
    stem_kernel_size: int = 7
    stem_padding: int = 2
    norm: str = "group"
    norm_eps: float = 1e-5
    head_norm_eps: float = 1e-6
    norm_before_pool: bool = False
    layer_scale_init: float | None = 1e-5
    num_classes: int = 1000
    dropout_rate: float = 0.0
    drop_path_rate: float = 0.0
    dtype: Any = jnp.float32
    gelu: str = "exact"

    def __post_init__(self):
        object.__setattr__(self, "mixer_kwargs", FrozenDict(self.mixer_kwargs))
        object.__setattr__(self, "depths", tuple(self.depths))
        object.__setattr__(self, "dims", tuple(self.dims))
        check_mixer_kwargs(self.mixer, dict(self.mixer_kwargs))
        check_gelu(self.gelu)
        if len(self.depths) != len(self.dims) or not self.depths:
            raise ValueError(
                f"depths and dims need one entry per stage, got {self.depths} and {self.dims}."
            )
        if min(self.depths) < 1 or min(self.dims) < 1 or self.patch_size < 1:
            raise ValueError("depths, dims and patch_size must all be >= 1.")
        if self.norm not in NORMS:
            raise ValueError(f"norm must be one of {', '.join(NORMS)}, got '{self.norm}'.")
        for field in ("dropout_rate", "drop_path_rate"):
            if not 0.0 <= getattr(self, field) < 1.0:
                raise ValueError(f"{field} must be in [0, 1), got {getattr(self, field)}.")
        self._freeze_stage_fields()
        super().__post_init__()

    def _freeze_stage_fields(self) -> None:
        """Per-stage fields as tuples (kwargs as FrozenDicts, hashable), one entry per
        stage, each stage's mixer kwargs checked; one-line ``ValueError`` otherwise."""
        frozen = {
            "stage_mixers": lambda v: str(v),
            "stage_mixer_kwargs": lambda v: FrozenDict(v),
            "stage_mlp_ratios": lambda v: float(v),
        }
        for field, freeze in frozen.items():
            values = getattr(self, field)
            if values is None:
                continue
            if isinstance(values, (str, Mapping)) or len(values) != len(self.depths):
                raise ValueError(
                    f"{field} needs one entry per stage ({len(self.depths)}), got {values!r}."
                )
            object.__setattr__(self, field, tuple(freeze(v) for v in values))
        for s in range(len(self.depths)):
            mixer, kwargs, _ = self.stage_block(s)
            check_mixer_kwargs(mixer, dict(kwargs))
        if self.stage_mlp_ratios is not None and min(self.stage_mlp_ratios) <= 0:
            raise ValueError(f"stage_mlp_ratios must be > 0, got {self.stage_mlp_ratios}.")

    def stage_block(self, s: int) -> tuple[str, Mapping[str, Any], float]:
        """Stage ``s``'s token mixer, its hyper-parameters and the MLP ratio."""
        mixer = self.mixer if self.stage_mixers is None else self.stage_mixers[s]
        if self.stage_mixer_kwargs is not None:
            kwargs = self.stage_mixer_kwargs[s]
        else:
            kwargs = self.mixer_kwargs if mixer == self.mixer else FrozenDict()
        ratio = self.mlp_ratio if self.stage_mlp_ratios is None else self.stage_mlp_ratios[s]
        return mixer, kwargs, ratio

    @nn.compact
    def __call__(self, images: jax.Array, train: bool = False) -> jax.Array:
        deterministic = not train
        if images.ndim != 4:
            raise ValueError(f"Expected images [B, H, W, C], got shape {tuple(images.shape)}.")
        if min(images.shape[1:3]) < self.patch_size:
            raise ValueError(
                f"Image size {images.shape[1]}x{images.shape[2]} is smaller than the stem "
                f"stride {self.patch_size}; use images of at least "
                f"{self.patch_size}x{self.patch_size}."
            )
        stem = ConvLayer(
            self.dims[0],
            self.stem_kernel_size,
            self.patch_size,
            self.stem_padding,
            dtype=self.dtype,
            name="stem",
        )
        x = stem(images)  # [B, H/4, W/4, dims[0]]
        block = dict(
            norm=self.norm,
            norm_eps=self.norm_eps,
            layer_scale_init=self.layer_scale_init,
            dropout_rate=self.dropout_rate,
            dtype=self.dtype,
            gelu=self.gelu,
        )
        rates = linear_drop_path_rates(self.drop_path_rate, self.depths)
        for s, (depth, dim) in enumerate(zip(self.depths, self.dims)):
            mixer, mixer_kwargs, mlp_ratio = self.stage_block(s)
            stage_block = dict(
                block, mixer=mixer, mixer_kwargs=mixer_kwargs, mlp_ratio=mlp_ratio
            )
            x = HierarchicalMetaFormerStage(
                depth=depth,
                dim=dim,
                downsample=s > 0,
                drop_path_rates=tuple(rates[s]),
                block=FrozenDict(stage_block),
                name=f"stages_{s}",
            )(x, deterministic=deterministic)

        head_norm = nn.LayerNorm(epsilon=self.head_norm_eps, dtype=self.dtype, name="norm")
        if self.norm_before_pool:
            x = head_norm(x).mean(axis=(1, 2))
        else:
            x = head_norm(x.mean(axis=(1, 2)))  # [B, D]
        x = nn.Dropout(self.dropout_rate)(x, deterministic=deterministic)
        return classifier_head(x, self.num_classes, self.dtype)
