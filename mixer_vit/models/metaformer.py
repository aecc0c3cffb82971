"""MetaFormer: the isotropic backbone shared by ViT, MLP-Mixer and their relatives.

patch embedding (or a convolutional stem) -> [class token] -> [position embedding] -> dropout
-> depth x (norm -> token mixer -> drop path -> residual,
            norm -> channel MLP -> drop path -> residual)
-> final norm -> pool ("token" or "gap") -> head Dense(num_classes).

The token mixer is chosen by name from the registry in ``mixer_vit.layers.mixers``.

Parameter tree (ViT-B/16 shown; ``blocks_{i}`` for i in 0..depth-1)::

    patch_embed/proj/{kernel [16,16,3,768], bias [768]}
                                              (conv_stem/... instead with conv_stem_widths,
                                               layers/conv_stem.py; batch_stats too)
    cls_token [1,1,768]                       (use_class_token)
    pos_embed [1,197,768]                     (use_pos_embed; covers the class token)
    blocks_0/norm1/{scale, bias}
    blocks_0/mixer/...                        (attention: qkv/{kernel,bias}, proj/{kernel,bias};
                                               mlp: mlp/fc1/..., mlp/fc2/...; identity: none)
    blocks_0/ls1/scale [768]                  (layer_scale_init is not None; also ls2)
    blocks_0/norm2/{scale, bias}
    blocks_0/mlp/{fc1,fc2}/{kernel, bias}
    norm/{scale, bias}
    head/{kernel [768,1000], bias [1000]}     (num_classes > 0)
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
from flax.core import FrozenDict

from mixer_vit.layers import (
    POS_EMBED_TYPES,
    DropPath,
    LayerScale,
    Mlp,
    ConvStem,
    PatchEmbed,
    check_mixer_kwargs,
    conv_stem_stride,
    layer_norm,
    make_mixer,
    sincos_2d_position_embedding,
)
from mixer_vit.layers.classifier_head import classifier_head
from mixer_vit.layers.gelu import check_gelu
from mixer_vit.layers.mixers import with_gelu_form
from mixer_vit.layers.image_groups import auto_image_group
from mixer_vit.models.block_stacking import apply_blocks, check_remat_policy

POOLS = ("token", "gap")


def stochastic_depth_rates(drop_path_rate: float, depth: int) -> list[float]:
    """Linear rule: block ``i`` drops its branches with rate ``drop_path_rate * i / (depth - 1)``."""
    if depth == 1:
        return [0.0]
    return [drop_path_rate * i / (depth - 1) for i in range(depth)]


class MetaFormerBlock(nn.Module):
    """One pre-norm residual block with a pluggable token mixer, ``[B, N, D] -> [B, N, D]``."""

    mixer: str
    mixer_kwargs: Mapping[str, Any]
    mlp_dim: int
    dropout_rate: float = 0.0
    drop_path_rate: float = 0.0
    norm_eps: float = 1e-6
    layer_scale_init: float | None = None
    dtype: Any = jnp.float32
    gelu: str = "exact"

    @nn.compact
    def __call__(
        self,
        x: jax.Array,
        *,
        deterministic: bool,
        grid: tuple[int, int] | None = None,
        drop_path_rate: jax.Array | None = None,
    ) -> jax.Array:
        """x: [B, N, D]; grid: (H, W) of the patch tokens, the last H*W of the N;
        drop_path_rate: a (traced) scalar overriding the attribute (used under ``nn.scan``).

        With ``layer_scale_init`` set, each branch is multiplied by a learned per-channel
        gain (``ls1``, ``ls2``) initialised to it, before drop path.
        """
        drop_path = DropPath(self.drop_path_rate if drop_path_rate is None else drop_path_rate)

        def scaled(y: jax.Array, name: str) -> jax.Array:
            if self.layer_scale_init is None:
                return y
            return LayerScale(self.layer_scale_init, dtype=self.dtype, name=name)(y)

        y = layer_norm(self.norm_eps, dtype=self.dtype, name="norm1")(x)
        mixer_kwargs = with_gelu_form(self.mixer, dict(self.mixer_kwargs), self.gelu)
        mixer = make_mixer(self.mixer, dtype=self.dtype, **mixer_kwargs, name="mixer")
        y = mixer(y, deterministic=deterministic, grid=grid)
        x = x + drop_path(scaled(y, "ls1"), deterministic=deterministic)

        y = layer_norm(self.norm_eps, dtype=self.dtype, name="norm2")(x)
        mlp = Mlp(
            self.mlp_dim, dropout=self.dropout_rate, dtype=self.dtype, gelu=self.gelu, name="mlp"
        )
        y = mlp(y, deterministic=deterministic)
        x = x + drop_path(scaled(y, "ls2"), deterministic=deterministic)
        self.sow("intermediates", "output", x)  # [B, N, D]; only when collected
        return x


class MetaFormer(nn.Module):
    """Isotropic MetaFormer classifier: images ``[B, H, W, C]`` -> logits ``[B, num_classes]``.

    Call as ``model.apply(variables, images, train=bool, rngs={'dropout': key})``; the
    ``'dropout'`` stream is needed only when ``train`` and some rate is > 0. Logits are
    float32 whatever the compute ``dtype``; parameters are always float32. With
    ``num_classes=0`` there is no head and the pooled features ``[B, embed_dim]`` are
    returned. H and W must be multiples of ``patch_size`` (``ValueError`` otherwise);
    with ``use_pos_embed`` the image size is fixed by the one used at init.

    Attributes:
      patch_size: side of the square, non-overlapping patches (with a conv stem: its
        total stride, which must be ``2**len(conv_stem_widths)``).
      conv_stem_widths: empty (default): the patchify convolution. Else Xiao et al.'s
        convolutional stem (``layers/conv_stem.py``): one stride-2 3x3 convolution with
        BatchNorm and ReLU per entry, of that many channels, then a 1x1 convolution to
        ``embed_dim``; the model then keeps ``batch_stats`` (pass
        ``mutable=["batch_stats"]`` in training).
      embed_dim: token width D.
      depth: number of blocks.
      mixer: registered token-mixer name ("attention", "mlp", "identity", ...).
      mixer_kwargs: the mixer's hyper-parameters (e.g. ``{"num_heads": 12}``); the
        backbone adds ``dtype``. Unknown keys raise ``ValueError`` at construction.
      mlp_ratio: channel-MLP hidden width is ``int(embed_dim * mlp_ratio)``.
      num_classes: head outputs; 0 means no head.
      use_class_token: prepend a learned class token (parameter ``cls_token``).
      use_pos_embed: add a position embedding of kind ``pos_embed_type``.
      pos_embed_type: "learned" (parameter ``pos_embed``, covering the class token when
        there is one, as in timm), "sincos2d" (fixed 2-D sin-cos table added to the
        patch tokens only, as in big_vision / MAE; no parameter) or "none".
      pool: "token" (the class token) or "gap" (mean over the patch tokens).
      dropout_rate: dropout after the position embedding and inside the channel MLP.
        The mixer's own dropout is one of its ``mixer_kwargs``.
      drop_path_rate: stochastic depth of the last block; linear from 0 at block 0.
      norm_eps: LayerNorm epsilon.
      layer_scale_init: None (no layer-scale) or the initial per-channel gain of every
        residual branch (parameters ``blocks_i/ls1/scale``, ``blocks_i/ls2/scale``).
      scan_blocks: run the blocks as one ``nn.scan`` (faster compiles for deep models);
        block parameters are then stacked under ``blocks`` with a leading depth axis
        (see ``models/block_stacking.py`` for the layout and the conversion functions).
      remat_blocks: recompute block activations in the backward pass (``nn.remat``).
      remat_policy: what remat may keep, a ``jax.checkpoint_policies`` name.
      inference_image_group: in inference (``train=False``), run each block over groups
        of this many images, one group at a time, so a group's activations stay in
        cache (``models/block_stacking.py``). ``"auto"`` (default): with the CPU-tuned
        kernels (``mixer_vit.layers.kernels``) and a
        bfloat16/float16 ``dtype``, as many images as keep the channel-MLP hidden layer
        (float32) within 16 MiB, else no grouping; an int must divide the batch; 0: off.
        Parameters and results are the same either way.
      dtype: compute dtype (e.g. ``jnp.bfloat16``).
      gelu: GELU of the channel MLPs and of MLP token mixers: ``"exact"`` (erf, timm's)
        or ``"tanh"`` (the official vision_transformer / big_vision code's; set by the
        ``.npz`` importer). Same parameters either way.
    """

    patch_size: int
    embed_dim: int
    depth: int
    conv_stem_widths: Sequence[int] = ()
    mixer: str = "attention"
    mixer_kwargs: Mapping[str, Any] = FrozenDict()
    mlp_ratio: float = 4.0
    num_classes: int = 1000
    use_class_token: bool = False
    use_pos_embed: bool = False
    pos_embed_type: str = "learned"
    pool: str = "gap"
    dropout_rate: float = 0.0
    drop_path_rate: float = 0.0
    norm_eps: float = 1e-6
    layer_scale_init: float | None = None
    scan_blocks: bool = False
    remat_blocks: bool = False
    remat_policy: str = "nothing_saveable"
    inference_image_group: int | str = "auto"
    dtype: Any = jnp.float32
    gelu: str = "exact"

    def __post_init__(self):
        # Freeze the kwargs so the module stays hashable, and fail on bad settings now,
        # before anything is traced or compiled.
        object.__setattr__(self, "mixer_kwargs", FrozenDict(self.mixer_kwargs))
        check_mixer_kwargs(self.mixer, dict(self.mixer_kwargs))
        if self.pool not in POOLS:
            raise ValueError(f"pool must be one of {', '.join(POOLS)}, got '{self.pool}'.")
        if self.pos_embed_type not in POS_EMBED_TYPES:
            raise ValueError(
                f"pos_embed_type must be one of {', '.join(POS_EMBED_TYPES)}, "
                f"got '{self.pos_embed_type}'."
            )
        if self.pool == "token" and not self.use_class_token:
            raise ValueError(
                "pool='token' needs use_class_token=True; use pool='gap' without a class token."
            )
        for field in ("patch_size", "embed_dim", "depth"):
            if getattr(self, field) < 1:
                raise ValueError(f"{field} must be >= 1, got {getattr(self, field)}.")
        self._check_conv_stem()
        for field in ("dropout_rate", "drop_path_rate"):
            if not 0.0 <= getattr(self, field) < 1.0:
                raise ValueError(f"{field} must be in [0, 1), got {getattr(self, field)}.")
        check_remat_policy(self.remat_policy)
        check_gelu(self.gelu)
        group = self.inference_image_group
        if group != "auto" and (isinstance(group, bool) or not isinstance(group, int) or group < 0):
            raise ValueError(f"inference_image_group must be 'auto' or an int >= 0, got {group!r}.")
        super().__post_init__()

    def _check_conv_stem(self) -> None:
        widths = tuple(self.conv_stem_widths)
        if any(isinstance(w, bool) or not isinstance(w, int) or w < 1 for w in widths):
            raise ValueError(f"conv_stem_widths must be ints >= 1, got {widths}.")
        object.__setattr__(self, "conv_stem_widths", widths)
        if widths and conv_stem_stride(widths) != self.patch_size:
            raise ValueError(
                f"conv_stem_widths {widths} make a stem of total stride "
                f"{conv_stem_stride(widths)}, but patch_size is {self.patch_size}; set "
                f"patch_size={conv_stem_stride(widths)}, or give k widths for patch_size 2**k."
            )

    def _image_group(self, batch: int, tokens: int, mlp_dim: int) -> int:
        if self.is_initializing() or self.is_mutable_collection("intermediates"):
            return 0  # parameters are created, and intermediates sown, ungrouped
        if self.inference_image_group != "auto":
            return self.inference_image_group
        return auto_image_group(batch, tokens * max(mlp_dim, self.embed_dim) * 4, self.dtype)

    @nn.compact
    def __call__(self, images: jax.Array, train: bool = False) -> jax.Array:
        deterministic = not train
        if self.conv_stem_widths:
            x = ConvStem(
                self.conv_stem_widths, self.embed_dim, dtype=self.dtype, name="conv_stem"
            )(images, train=train)  # [B, N, D]
        else:
            x = PatchEmbed(self.patch_size, self.embed_dim, dtype=self.dtype, name="patch_embed")(
                images
            )  # [B, N, D]
        batch, _, dim = x.shape
        grid = (images.shape[1] // self.patch_size, images.shape[2] // self.patch_size)

        num_prefix_tokens = 0
        if self.use_class_token:
            cls_token = self.param("cls_token", nn.initializers.normal(stddev=1e-6), (1, 1, dim))
            cls_tokens = jnp.broadcast_to(cls_token.astype(x.dtype), (batch, 1, dim))
            x = jnp.concatenate([cls_tokens, x], axis=1)  # [B, 1 + N, D]
            num_prefix_tokens = 1
        if self.use_pos_embed and self.pos_embed_type == "learned":
            pos_embed = self.param(
                "pos_embed", nn.initializers.normal(stddev=0.02), (1, x.shape[1], dim)
            )
            x = x + pos_embed.astype(x.dtype)
        elif self.use_pos_embed and self.pos_embed_type == "sincos2d":
            table = sincos_2d_position_embedding(grid, dim)  # [1, N, D], a constant
            x = x.at[:, num_prefix_tokens:].add(jnp.asarray(table, x.dtype))
        x = nn.Dropout(self.dropout_rate)(x, deterministic=deterministic)

        mlp_dim = int(self.embed_dim * self.mlp_ratio)

        def make_block(rate: float, name: str) -> MetaFormerBlock:
            return MetaFormerBlock(
                mixer=self.mixer,
                mixer_kwargs=self.mixer_kwargs,
                mlp_dim=mlp_dim,
                dropout_rate=self.dropout_rate,
                drop_path_rate=rate,
                norm_eps=self.norm_eps,
                layer_scale_init=self.layer_scale_init,
                dtype=self.dtype,
                gelu=self.gelu,
                name=name,
            )

        x = apply_blocks(
            make_block,
            x,
            stochastic_depth_rates(self.drop_path_rate, self.depth),
            deterministic=deterministic,
            grid=grid,
            scan=self.scan_blocks,
            remat=self.remat_blocks,
            remat_policy=self.remat_policy,
            image_group=self._image_group(batch, x.shape[1], mlp_dim),
        )
        x = layer_norm(self.norm_eps, dtype=self.dtype, name="norm")(x)

        if self.pool == "token":
            x = x[:, 0]
        else:
            x = x[:, num_prefix_tokens:].mean(axis=1)  # [B, D]
        return classifier_head(x, self.num_classes, self.dtype)


def metaformer_variant(
    family_mixer: str,
    family_mixer_kwargs: Mapping[str, Any],
    fields: Mapping[str, Any],
    overrides: Mapping[str, Any],
) -> MetaFormer:
    """A MetaFormer of a named family (ViT, Mixer, ...) with the user's ``overrides``.

    ``fields`` are the family's MetaFormer fields; ``overrides`` replace any of them.
    ``overrides["mixer_kwargs"]`` is merged over ``family_mixer_kwargs``, which apply only
    while the mixer stays ``family_mixer`` (overriding ``mixer`` drops them).
    """
    overrides = dict(overrides)
    mixer = overrides.pop("mixer", family_mixer)
    defaults = dict(family_mixer_kwargs) if mixer == family_mixer else {}
    merged = {**fields, **overrides}
    merged["mixer_kwargs"] = {**defaults, **overrides.get("mixer_kwargs", {})}
    return MetaFormer(mixer=mixer, **merged)
