"""Builds everything a run needs from its config, before touching the workdir.

``prepare`` validates the config, makes sure the data set is there, builds the model,
mesh, schedule and optimizer, and raises ``UserError``/``ValueError`` for any bad value
before anything is compiled or written.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import flax.linen as nn
import jax
import ml_collections
import optax
from jax.experimental import multihost_utils
from jax.sharding import Mesh

from mixer_vit import data, parallel
from mixer_vit.errors import UserError
from mixer_vit.models import create_model
from mixer_vit.optim import build_optimizer, build_schedule
from mixer_vit.train.config_checks import check_config, check_image_size
from mixer_vit.train.initial_weights import INITIAL_WEIGHTS_KEYS, with_initial_weights
from mixer_vit.train.state import TrainState, abstract_train_state, create_train_state
from mixer_vit.train.step_options import StepOptions


@dataclasses.dataclass
class RunSetup:
    """What ``prepare`` built. image_shape is (H, W, C) of one input image."""

    config: ml_collections.ConfigDict
    data_dir: str
    num_classes: int
    image_shape: tuple[int, int, int]
    split_sizes: dict[str, int]
    model: nn.Module
    mesh: Mesh
    steps_per_epoch: int
    total_steps: int
    schedule: optax.Schedule
    tx: optax.GradientTransformation
    step_options: StepOptions

    def init_state(self) -> TrainState:
        """The initial state, created directly with ``state_sharding()``; parameters from
        ``model.init_from`` (converted weights) when it is set."""
        rng = jax.random.PRNGKey(self.config.seed)
        state = create_train_state(
            self.model,
            self.tx,
            self.image_shape,
            rng,
            self.state_sharding(),
            with_ema=self.step_options.ema_decay > 0,
        )
        init_from = self.config.model.get("init_from")
        if init_from:
            state = with_initial_weights(
                state,
                init_from,
                self.config.model.name,
                self.model,
                self.image_shape[0],
                fresh=self.config.model.get("init_fresh", ""),
            )
        return state

    def state_sharding(self) -> TrainState:
        """A ``NamedSharding`` for every leaf of the train state, from the parameter rules
        of ``mixer_vit.parallel`` (all replicated on a pure data-parallel mesh)."""
        abstract = abstract_train_state(
            self.model, self.tx, self.image_shape, with_ema=self.step_options.ema_decay > 0
        )
        return parallel.tree_shardings(abstract, self.mesh)

    @property
    def evaluate_with_ema(self) -> bool:
        return self.step_options.ema_decay > 0 and bool(self.config.ema.evaluate)

    def open_split(self, split: str):
        """A random-access source of ``split`` (held decoded in memory if data.in_memory;
        unreadable examples skipped with a warning if data.skip_corrupt)."""
        return open_data_split(self.config, self.data_dir, split)

    def train_pipeline(self):
        """(augment, preprocess) for the train iterator: the ``data.train_pp`` spec when
        set, else ``data.augment`` options + the mean/std conversion."""
        if self.config.data.train_pp:
            return data.make_preprocess(self.config.data.train_pp), data.as_batch_example
        return self.train_augment(), self.preprocess

    def eval_preprocess(self):
        """The ``data.eval_pp`` spec when set, else the mean/std conversion."""
        if self.config.data.eval_pp:
            return data.make_preprocess(self.config.data.eval_pp)
        return self.preprocess

    def model_identity(self) -> dict[str, Any]:
        """What decides the shapes of a checkpoint's parameters (JSON form): the model name,
        its overrides, the number of classes and the input image shape (not where its
        initial weights came from: ``model.init_from``)."""
        model = {
            k: v for k, v in self.config.model.to_dict().items() if k not in INITIAL_WEIGHTS_KEYS
        }
        identity = {
            **model,
            "num_classes": self.num_classes,
            "image_shape": list(self.image_shape),
        }
        return json.loads(json.dumps(identity))

    def train_augment(self):
        """The per-example input-pipeline augmentation of ``config.data.augment`` (or None)."""
        aug = self.config.data.augment
        crop = None
        if aug.crop_scale:
            crop = tuple(float(v) for v in str(aug.crop_scale).split(","))
            if len(crop) != 2 or not 0 < crop[0] <= crop[1] <= 1:
                raise UserError(
                    f"data.augment.crop_scale must be 'low,high' in (0, 1], got {aug.crop_scale!r}"
                )
        return data.make_augment(
            crop_scale=crop,
            flip=aug.flip,
            randaugment_ops=aug.randaugment_ops,
            randaugment_magnitude=aug.randaugment_magnitude,
        )

    def preprocess(self, example):
        """uint8 image -> normalised float32, as the config's data.mean / data.std say."""
        return data.to_float_image(example, self.config.data.mean, self.config.data.std)


def _augment_options_set(augment: ml_collections.ConfigDict) -> bool:
    return bool(augment.crop_scale or augment.flip or augment.randaugment_ops)


def open_data_split(config: ml_collections.ConfigDict, data_dir: str, split: str):
    return data.open_source(
        config.data.name,
        split,
        data_dir,
        in_memory=config.data.in_memory,
        skip_corrupt=config.data.skip_corrupt,
    )


def _input_shape(config: ml_collections.ConfigDict, data_dir: str, stored_shape) -> tuple:
    """(H, W, C) the model sees: what ``data.eval_pp`` makes of a stored example, or the
    stored shape when there is no spec."""
    if not config.data.eval_pp:
        if None in tuple(stored_shape):
            raise UserError(
                f"images of {config.data.name} vary in size; set --config.data.eval_pp "
                f"(and train_pp), e.g. 'resize_small(256)|center_crop(224)|"
                f"normalize(imagenet)'"
            )
        return tuple(stored_shape)
    source = open_data_split(config, data_dir, config.data.eval_split)
    return tuple(data.make_preprocess(config.data.eval_pp)(source[0])["image"].shape)


def _for_distillation(model: nn.Module, name: str, distillation: str) -> nn.Module:
    """A student with a distillation token returns both heads while training with a teacher;
    hard (DeiT) distillation needs that token."""
    has_token = hasattr(model, "distilled_training")
    if distillation == "hard" and not has_token:
        raise UserError(
            f"hard distillation trains a distillation token, which {name} does not have; use a "
            f"deit_*_distilled model or --config.distill.kind=soft"
        )
    if distillation != "none" and has_token:
        return model.clone(distilled_training=True)
    return model


def _ensure_prepared_on_process_0_first(name: str, data_dir: str) -> None:
    """Builds a missing embedded data set; in a multi-process run process 0 builds it before
    the others look (processes building it at once in a shared data_dir race on its final
    rename)."""
    if jax.process_count() > 1:
        if jax.process_index() == 0:
            data.ensure_prepared(name, data_dir)
        multihost_utils.sync_global_devices("mixer_vit: data set prepared")
    data.ensure_prepared(name, data_dir)


def prepare(config: ml_collections.ConfigDict) -> RunSetup:
    check_config(config)
    step_options = StepOptions.from_config(config)
    if config.data.augment.repeats < 1:
        raise UserError(f"data.augment.repeats must be >= 1, got {config.data.augment.repeats}")
    data_dir = config.data.data_dir or data.default_data_dir()
    _ensure_prepared_on_process_0_first(config.data.name, data_dir)
    info = data.data_info(config.data.name, data_dir)
    overrides = dict(config.model.overrides.to_dict())
    overrides.setdefault("num_classes", info.num_classes)
    model = create_model(config.model.name, **overrides)
    model = _for_distillation(model, config.model.name, step_options.distillation)
    if config.data.train_pp and _augment_options_set(config.data.augment):
        raise UserError(
            "data.train_pp and data.augment both augment the training images; "
            "put the augmentation in the train_pp spec and leave data.augment unset"
        )
    image_shape = _input_shape(config, data_dir, info.image_shape)
    check_image_size(image_shape[:2], getattr(model, "patch_size", None), config.model.name)
    mesh_config = config.get("mesh") or ml_collections.ConfigDict()
    mesh = parallel.make_mesh(
        config.num_devices, fsdp=mesh_config.get("fsdp", 1), model=mesh_config.get("model", 1)
    )
    parallel.check_global_batch(config.train.global_batch_size, mesh)
    accumulation = step_options.accumulation_steps
    shards = parallel.batch_shard_count(mesh)
    if config.train.global_batch_size % (accumulation * shards):
        raise UserError(
            f"global batch size {config.train.global_batch_size} does not split into "
            f"{accumulation} micro-batches over {shards} devices; make it a multiple "
            f"of {accumulation * shards} or change --config.train.grad_accum_steps"
        )
    train_size = info.split_sizes.get(config.data.train_split)
    if train_size is None:
        raise UserError(
            f"data set {config.data.name} has no split {config.data.train_split!r}; "
            f"available: {', '.join(sorted(info.split_sizes))}"
        )
    steps_per_epoch = train_size // config.train.global_batch_size
    if steps_per_epoch == 0:
        raise UserError(
            f"global batch size {config.train.global_batch_size} is larger than the "
            f"{train_size} training examples; lower --config.train.global_batch_size"
        )
    total_steps = steps_per_epoch * config.train.num_epochs
    schedule = build_schedule(config.optim, total_steps, steps_per_epoch)
    tx = build_optimizer(
        config.optim, schedule, steps_per_epoch=steps_per_epoch, accumulation_steps=accumulation
    )
    return RunSetup(
        config=config,
        data_dir=data_dir,
        num_classes=info.num_classes,
        image_shape=image_shape,
        split_sizes=dict(info.split_sizes),
        model=model,
        mesh=mesh,
        steps_per_epoch=steps_per_epoch,
        total_steps=total_steps,
        schedule=schedule,
        tx=tx,
        step_options=step_options,
    )
