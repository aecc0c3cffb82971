"""The run plan: a config validated once, with everything derived from it.

``plan_run(config)`` checks every value, makes sure the data set is there and that every
split the run names (train, eval, test; split expressions included) exists and is
non-empty, builds the model (in ``model.dtype``), mesh, steps, schedule and optimizer,
and raises ``UserError`` for any bad value before anything is compiled or written. The
loop then only reads the plan.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
from typing import Any

import flax.linen as nn
import jax
import ml_collections
import numpy as np
import optax
from jax.experimental import multihost_utils
from jax.sharding import Mesh

from mixer_vit import data, parallel
from mixer_vit.data.index_subset import IndexSubset, read_index_file
from mixer_vit.data.open_set_split import OpenSetSplit, open_set_split
from mixer_vit.errors import UserError
from mixer_vit.optim import build_optimizer, build_schedule
from mixer_vit.optim.injected import build_injected_optimizer
from mixer_vit.train.checkpoints import Checkpointer
from mixer_vit.train.config_checks import check_config, check_image_size
from mixer_vit.train.initial_weights import INITIAL_WEIGHTS_KEYS, with_initial_weights
from mixer_vit.train.population_plan import (
    check_population,
    population_members,
    population_size,
    varies_hparams,
)
from mixer_vit.train.run_model import COMPUTE_SETTINGS, build_model, for_distillation
from mixer_vit.train.sharpness import check_sharpness_examples
from mixer_vit.train.state import TrainState, abstract_train_state, create_train_state
from mixer_vit.train.step_options import StepOptions
from mixer_vit.train.train_classes import (
    check_class_options,
    plan_train_classes,
    with_class_weights,
)


@dataclasses.dataclass
class DataReading:
    """How the input pipeline reads: grain threads, batches they read ahead, worker
    processes, and batches placed on the devices ahead of their step."""

    num_threads: int = 2
    prefetch_batches: int = 4
    worker_processes: int = 0
    device_prefetch: int = 1


@dataclasses.dataclass
class RunPlan:
    """What ``plan_run`` derived. image_shape is (H, W, C) of one input image;
    split_sizes the examples of each split the run names (train, eval and test splits,
    split expressions as written in the config)."""

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
    reading: DataReading = dataclasses.field(default_factory=DataReading)
    population: int = 0  # members trained together (train/population_plan.py); 0: off
    # Example indices into the train split the run trains on (``data.train_indices_file``,
    # data/index_subset.py), int64 [n]; None: the whole split.
    train_indices: np.ndarray | None = None
    # Examples per class of the training set, int64 [K], when data.class_imbalance or
    # loss.class_weights needed them (train/train_classes.py); None: not counted.
    train_class_counts: np.ndarray | None = None
    # The held-out classes (``data.unknown_classes``, data/open_set_split.py); None: all
    # classes known. When set, ``num_classes`` is the number of known classes.
    open_set: OpenSetSplit | None = None

    @property
    def global_batch_size(self) -> int:
        return int(self.config.train.global_batch_size)

    @property
    def eval_every_epochs(self) -> int:
        """Validation (and early stopping) runs after every this many epochs."""
        return int(self.config.train.get("eval_every_epochs", 1))

    def last_step(self, start_step: int) -> int:
        """The last step this invocation runs (``train.halt_after_steps`` may stop early)."""
        halt = self.config.train.halt_after_steps
        return min(self.total_steps, start_step + halt) if halt else self.total_steps

    def open_checkpointer(self, workdir: str) -> Checkpointer:
        """The run's checkpoints in ``workdir/checkpoints`` (nothing is written yet)."""
        return open_checkpointer(self.config, workdir)

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
        unreadable examples skipped with a warning if data.skip_corrupt); only its
        known-class examples when classes are held out (``open_set``)."""
        source = open_data_split(self.config, self.data_dir, split)
        return self.open_set.known(source, split) if self.open_set else source

    def unknown_batches(self, split: str) -> data.EvalBatches:
        """``eval_batches`` of the held-out classes' examples of ``split`` (label -1)."""
        source = open_data_split(self.config, self.data_dir, split)
        return self._eval_batches(self.open_set.unknown_examples(source, split))

    def open_train_split(self):
        """The training examples: ``data.train_split``, or only the examples of
        ``train_indices`` when the config names an index file (of those, the known-class
        ones when classes are held out)."""
        split = self.config.data.train_split
        if self.open_set:
            source = open_data_split(self.config, self.data_dir, split)
            return self.open_set.known(source, split, self.train_indices)
        source = self.open_split(split)
        if self.train_indices is not None:
            source = IndexSubset(source, self.train_indices)
        return source

    def train_batches(self) -> data.TrainIterator:
        """This process's shuffled training batches (host numpy), read as ``reading`` says;
        ``[global_batch_size // process_count, ...]`` each."""
        augment, preprocess = self.train_pipeline()
        return data.train_batches(
            self.open_train_split(),
            global_batch_size=self.global_batch_size,
            seed=self.config.seed,
            preprocess=preprocess,
            process_index=jax.process_index(),
            process_count=jax.process_count(),
            augment=augment,
            repeats=self.config.data.augment.repeats,
            num_threads=self.reading.num_threads,
            prefetch_batches=self.reading.prefetch_batches,
            worker_processes=self.reading.worker_processes,
        )

    def eval_batches(self, split: str) -> data.EvalBatches:
        """Every example of ``split`` once, in padded, masked batches (this process's rows)."""
        return self._eval_batches(self.open_split(split))

    def _eval_batches(self, source) -> data.EvalBatches:
        return data.eval_batches(
            source,
            global_batch_size=self.global_batch_size,
            preprocess=self.eval_preprocess(),
            process_index=jax.process_index(),
            process_count=jax.process_count(),
            num_threads=self.reading.num_threads,
            prefetch_batches=self.reading.prefetch_batches,
        )

    def train_pipeline(self):
        """(augment, preprocess) for the train iterator: the ``data.train_pp`` spec when
        set, else ``data.augment`` options + the mean/std conversion."""
        if self.config.data.train_pp:
            return data.make_preprocess(self.config.data.train_pp), data.as_batch_example
        return self.train_augment(), self.preprocess

    def class_names(self) -> list[str]:
        """One name per output of the model: the data set's label names (of the known
        classes, in their new order, when classes are held out)."""
        from mixer_vit.train.trained_model import class_names_of

        if not self.open_set:
            return class_names_of(self.config.data.name, self.data_dir, self.num_classes)
        names = class_names_of(self.config.data.name, self.data_dir, self.open_set.num_classes)
        return self.open_set.class_names(names)

    def eval_preprocess(self):
        """The ``data.eval_pp`` spec when set, else the mean/std conversion."""
        if self.config.data.eval_pp:
            return data.make_preprocess(self.config.data.eval_pp)
        return self.preprocess

    def model_identity(self) -> dict[str, Any]:
        """What decides the shapes of a checkpoint's parameters (JSON form): the model name,
        its overrides, the number of classes and the input image shape (not its compute
        dtype or kernels: a float32 run may resume in bfloat16; nor where its initial
        weights came from: ``model.init_from``)."""
        excluded = (*COMPUTE_SETTINGS, *INITIAL_WEIGHTS_KEYS)
        model = {
            k: v for k, v in self.config.model.to_dict().items() if k not in excluded
        }
        identity = {
            **model,
            "num_classes": self.num_classes,
            "image_shape": list(self.image_shape),
        }
        if self.open_set:  # which classes the outputs are (data/open_set_split.py)
            identity["unknown_classes"] = list(self.open_set.unknown)
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

    @property
    def preprocess(self):
        """uint8 image -> normalised float32, as the config's data.mean / data.std say (a
        picklable function, for grain worker processes)."""
        return functools.partial(
            data.to_float_image, mean=self.config.data.mean, std=self.config.data.std
        )


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


def input_shape(config: ml_collections.ConfigDict, data_dir: str, stored_shape) -> tuple:
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


def _ensure_prepared_on_process_0_first(name: str, data_dir: str) -> None:
    """Builds a missing embedded data set; in a multi-process run process 0 builds it before
    the others look (processes building it at once in a shared data_dir race on its final
    rename)."""
    if jax.process_count() > 1:
        if jax.process_index() == 0:
            data.ensure_prepared(name, data_dir)
        multihost_utils.sync_global_devices("mixer_vit: data set prepared")
    data.ensure_prepared(name, data_dir)


def open_checkpointer(config: ml_collections.ConfigDict, workdir: str) -> Checkpointer:
    return Checkpointer(
        os.path.join(workdir, "checkpoints"),
        config.train.checkpoint_every_steps,
        config.train.max_checkpoints_to_keep,
    )


def _data_reading(config: ml_collections.ConfigDict) -> DataReading:
    d, t = config.data, config.train
    reading = DataReading(
        num_threads=int(d.get("num_threads", 2)),
        prefetch_batches=int(d.get("prefetch_batches", 4)),
        worker_processes=int(d.get("worker_processes", 0)),
        device_prefetch=int(t.get("device_prefetch", 1)),
    )
    for name, value in dataclasses.asdict(reading).items():
        if value < 0:
            section = "train" if name == "device_prefetch" else "data"
            raise UserError(f"{section}.{name} must be >= 0, got {value}")
    return reading


def _split_sizes(config: ml_collections.ConfigDict, data_dir: str) -> dict[str, int]:
    """Examples in every split the run names; ``UserError`` for a missing, malformed or
    empty one, before the first step."""
    splits = (config.data.train_split, config.data.eval_split, config.data.test_split)
    return {split: data.count_examples(config.data.name, split, data_dir) for split in splits}


def _train_indices(config: ml_collections.ConfigDict, split_size: int) -> np.ndarray | None:
    """The checked indices of ``data.train_indices_file``; None when it is unset."""
    path = config.data.get("train_indices_file") or ""
    if not path:
        return None
    return read_index_file(path, split_size, f"split {config.data.train_split!r}")


def plan_run(config: ml_collections.ConfigDict) -> RunPlan:
    """Validates ``config`` and derives the whole run from it (see the module doc)."""
    check_config(config)
    check_class_options(config)
    population = population_size(config)
    population_members(config)  # train.population_hparams, checked before anything is built
    step_options = StepOptions.from_config(config)
    if config.data.augment.repeats < 1:
        raise UserError(f"data.augment.repeats must be >= 1, got {config.data.augment.repeats}")
    data_dir = config.data.data_dir or data.default_data_dir()
    _ensure_prepared_on_process_0_first(config.data.name, data_dir)
    info = data.data_info(config.data.name, data_dir)
    split_sizes = _split_sizes(config, data_dir)
    reading = _data_reading(config)
    open_set = open_set_split(
        config.data.get("unknown_classes", ()), config.data.name, data_dir, info.num_classes
    )
    num_classes = open_set.num_known if open_set else info.num_classes
    model = build_model(config, num_classes)
    model = for_distillation(model, config.model.name, step_options.distillation)
    if config.data.train_pp and _augment_options_set(config.data.augment):
        raise UserError(
            "data.train_pp and data.augment both augment the training images; "
            "put the augmentation in the train_pp spec and leave data.augment unset"
        )
    image_shape = input_shape(config, data_dir, info.image_shape)
    check_image_size(image_shape[:2], getattr(model, "patch_size", None), config.model.name)
    mesh_config = config.get("mesh") or ml_collections.ConfigDict()
    mesh = parallel.make_mesh(
        config.num_devices, fsdp=mesh_config.get("fsdp", 1), model=mesh_config.get("model", 1)
    )
    parallel.check_global_batch(config.train.global_batch_size, mesh)
    check_population(config, step_options, mesh)
    accumulation = step_options.accumulation_steps
    shards = parallel.batch_shard_count(mesh)
    if config.train.global_batch_size % (accumulation * shards):
        raise UserError(
            f"global batch size {config.train.global_batch_size} does not split into "
            f"{accumulation} micro-batches over {shards} devices; make it a multiple "
            f"of {accumulation * shards} or change --config.train.grad_accum_steps"
        )
    if int(config.train.get("eval_every_epochs", 1)) < 1:
        raise UserError(
            f"train.eval_every_epochs must be >= 1, got {config.train.eval_every_epochs}"
        )
    train_indices = _train_indices(config, split_sizes[config.data.train_split])
    train_indices, train_class_counts = plan_train_classes(
        config, data_dir, info.num_classes, train_indices
    )
    step_options = with_class_weights(step_options, config, train_class_counts)
    train_size = split_sizes[config.data.train_split] if train_indices is None else len(
        train_indices
    )
    if open_set:
        if config.data.get("class_imbalance") or config.loss.get("class_weights", "none") != "none":
            raise UserError(
                "data.unknown_classes does not combine with data.class_imbalance or "
                "loss.class_weights (their class counts are of all classes); use one of them"
            )
        train_size = len(open_set.parts(config.data.train_split, train_indices)[0])
    check_sharpness_examples(config, train_size)
    steps_per_epoch = train_size // config.train.global_batch_size
    if steps_per_epoch == 0:
        raise UserError(
            f"global batch size {config.train.global_batch_size} is larger than the "
            f"{train_size} training examples; lower --config.train.global_batch_size"
        )
    total_steps = steps_per_epoch * config.train.num_epochs
    schedule = build_schedule(config.optim, total_steps, steps_per_epoch)
    if varies_hparams(config):  # each member's lr and weight decay live in its state
        tx = build_injected_optimizer(
            config.optim, total_steps, steps_per_epoch, accumulation_steps=accumulation
        )
    else:
        tx = build_optimizer(
            config.optim, schedule, steps_per_epoch=steps_per_epoch,
            accumulation_steps=accumulation,
        )
    return RunPlan(
        config=config,
        data_dir=data_dir,
        num_classes=num_classes,
        image_shape=image_shape,
        split_sizes=split_sizes,
        model=model,
        mesh=mesh,
        steps_per_epoch=steps_per_epoch,
        total_steps=total_steps,
        schedule=schedule,
        tx=tx,
        step_options=step_options,
        reading=reading,
        population=population,
        train_indices=train_indices,
        train_class_counts=train_class_counts,
        open_set=open_set,
    )
