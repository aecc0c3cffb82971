"""The optimizer from config, composed from optax pieces.

clip (global norm) -> adamw | sgd | lamb | lars (weight decay under a name mask)
-> per-parameter learning-rate multipliers (regex rules) -> reduce-on-plateau (optional)
-> frozen parameters get zero updates (regex) -> gradient accumulation (optax.MultiSteps).
"""

from __future__ import annotations

import functools

import jax
import ml_collections
import optax

from mixer_vit.errors import UserError
from mixer_vit.optim.masks import decay_mask, parse_value_rules, path_name, regex_mask

OPTIMIZERS = ("adamw", "sgd", "lamb", "lars")


def _base(
    optim: ml_collections.ConfigDict, schedule: optax.Schedule, weight_decay
) -> optax.GradientTransformation:
    mask = functools.partial(decay_mask, no_decay=optim.no_decay)
    if optim.name == "adamw":
        return optax.adamw(
            schedule,
            b1=optim.b1,
            b2=optim.b2,
            eps=optim.eps,
            weight_decay=weight_decay,
            mask=mask,
        )
    if optim.name == "sgd":
        return optax.chain(
            optax.add_decayed_weights(weight_decay, mask=mask),
            optax.sgd(schedule, momentum=optim.momentum or None, nesterov=optim.nesterov),
        )
    if optim.name == "lamb":
        return optax.lamb(
            schedule,
            b1=optim.b1,
            b2=optim.b2,
            eps=optim.eps,
            weight_decay=weight_decay,
            mask=mask,
        )
    if optim.name == "lars":
        return optax.lars(
            schedule,
            weight_decay=weight_decay,
            weight_decay_mask=mask,
            trust_ratio_mask=mask,
            momentum=optim.momentum,
            nesterov=optim.nesterov,
        )
    raise UserError(
        f"unknown optimizer {optim.name!r}; set --config.optim.name to one of "
        f"{', '.join(OPTIMIZERS)}"
    )


def scale_by_rules(rules: str) -> optax.GradientTransformation:
    """Multiplies each parameter's update by the first matching ``"pattern:multiplier"`` rule
    (1 where none matches)."""

    parsed = parse_value_rules(rules, "optim.lr_mults")

    def scale_leaf(path, update):
        name = path_name(path)
        multiplier = next((v for pattern, v in parsed if pattern.search(name)), 1.0)
        return update * multiplier if multiplier != 1.0 else update

    def scale(updates, params=None):
        return jax.tree_util.tree_map_with_path(scale_leaf, updates)

    return optax.stateless(scale)


def build_optimizer(
    optim: ml_collections.ConfigDict,
    schedule: optax.Schedule,
    *,
    steps_per_epoch: int = 1,
    accumulation_steps: int = 1,
    weight_decay=None,
) -> optax.GradientTransformationExtraArgs:
    """Returns the gradient transformation described by ``config.optim``.

    With ``optim.plateau.factor < 1`` the update takes an extra argument ``value`` (the
    latest validation loss, or whatever metric the loop feeds) and
    ``optax.contrib.reduce_on_plateau`` multiplies the updates by ``factor`` once the mean
    of ``value`` over an epoch has not improved for ``patience`` epochs.
    ``weight_decay``: in place of ``optim.weight_decay`` (a float or a traced scalar:
    optim/injected.py).
    """
    weight_decay = optim.weight_decay if weight_decay is None else weight_decay
    tx = _base(optim, schedule, weight_decay)
    if optim.grad_clip_norm:
        tx = optax.chain(optax.clip_by_global_norm(optim.grad_clip_norm), tx)
    if optim.lr_mults:
        tx = optax.chain(tx, scale_by_rules(optim.lr_mults))
    plateau = optim.plateau
    if plateau.factor < 1.0:
        tx = optax.chain(
            tx,
            optax.contrib.reduce_on_plateau(
                factor=plateau.factor,
                patience=plateau.patience,
                rtol=plateau.rtol,
                cooldown=plateau.cooldown,
                accumulation_size=steps_per_epoch,
            ),
        )
    if optim.freeze:
        frozen = functools.partial(regex_mask, pattern=optim.freeze, what="optim.freeze")
        labels = lambda params: jax.tree.map(lambda f: "frozen" if f else "train", frozen(params))  # noqa: E731
        tx = optax.multi_transform({"train": tx, "frozen": optax.set_to_zero()}, labels)
    tx = optax.with_extra_args_support(tx)
    if accumulation_steps > 1:
        tx = optax.MultiSteps(tx, every_k_schedule=accumulation_steps)
    return tx
