"""The full-scale recipe configs (experiments/configs/imagenet_*.py, cifar10_finetune_vit.py):
each loads as ``mixer-vit train`` loads it, its schedule has the paper's shape in steps, its
preprocessing makes the model's input, and one train step at reduced width, depth and
image size runs with a finite loss and with the configured tricks (optimizer, SAM, mixup /
CutMix, erasing, distillation) actually inside the step."""

import os
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from mixer_vit import parallel
from mixer_vit.config_file import load_config_file
from mixer_vit.models import create_model
from mixer_vit.optim import build_optimizer, build_schedule
from mixer_vit.train import objective
from mixer_vit.train import step as step_module
from mixer_vit.train.config_checks import check_config
from mixer_vit.train.state import create_train_state
from mixer_vit.train.step import make_train_step
from mixer_vit.train.step_options import StepOptions

CONFIG_DIR = os.path.join(os.path.dirname(__file__), "..", "experiments", "configs")
IMAGENET_TRAIN = 1_281_167
CIFAR10_TRAIN = 50_000

class Recipe(NamedTuple):
    """What each paper states, derived here independently of the config files."""

    model: str
    train_size: int  # images in the training split
    side: int  # input resolution
    optimizer: str
    peak_lr: float
    warmup_steps: int
    sam_rho: float = 0.0
    mixup: float = 0.0
    cutmix: float = 0.0
    erase: float = 0.0
    distill: str = "none"


IMAGENET_EPOCH_AT_1024 = IMAGENET_TRAIN // 1024  # 1251 steps
DEIT = dict(
    train_size=IMAGENET_TRAIN, side=224, optimizer="adamw", peak_lr=5e-4 * 1024 / 512,
    warmup_steps=5 * IMAGENET_EPOCH_AT_1024, mixup=0.8, cutmix=1.0, erase=0.25,
)
SAM = dict(train_size=IMAGENET_TRAIN, side=224, optimizer="adamw", peak_lr=3e-3,
           warmup_steps=10_000)
RECIPES = {
    "imagenet_sam.py:vit_b16": Recipe("vit_b16", sam_rho=0.05, **SAM),
    "imagenet_sam.py:mixer_b16": Recipe("mixer_b16", sam_rho=0.5, **SAM),
    "imagenet_deit.py:ti": Recipe("deit_ti16", **DEIT),
    "imagenet_deit.py:s": Recipe("deit_s16", **DEIT),
    "imagenet_deit.py:b": Recipe("deit_b16", **DEIT),
    "imagenet_deit_distilled.py": Recipe("deit_b16_distilled", distill="hard", **DEIT),
    "imagenet_deit_distilled.py:teacher": Recipe(
        "resnet152", IMAGENET_TRAIN, 224, "sgd", peak_lr=0.1 * 1024 / 256, warmup_steps=0
    ),
    "cifar10_finetune_vit.py": Recipe("vit_b16", CIFAR10_TRAIN, 384, "sgd", 0.03, 500),
}

# Reduced models: same family and code path, a few thousand parameters.
SMALL_VIT = dict(embed_dim=32, depth=1, mixer_kwargs=dict(num_heads=2), mlp_ratio=2.0)
SMALL_MIXER = dict(embed_dim=32, depth=1, mixer_kwargs=dict(tokens_mlp_dim=16), mlp_ratio=2.0)
SMALL_RESNET = dict(block="basic", depths=(1, 1, 1, 1))  # the cheapest ResNet
SMALL_IMAGE = 32
NUM_CLASSES = 10


def _load(spec):
    path, _, arg = spec.partition(":")
    return load_config_file(os.path.join(CONFIG_DIR, path) + (f":{arg}" if arg else ""))


def _small_overrides(model_name):
    if model_name.startswith("mixer"):
        return SMALL_MIXER
    if model_name.startswith("resnet"):
        return SMALL_RESNET
    return SMALL_VIT


def _build_model(config, num_classes):
    """The model as the trainer builds it: through the trainer's own builder where it has
    one (which applies ``model.dtype``), else ``create_model`` with the overrides."""
    try:
        from mixer_vit.train.run_model import build_model
    except ImportError:
        overrides = dict(config.model.overrides.to_dict(), num_classes=num_classes)
        return create_model(config.model.name, **overrides)
    return build_model(config, num_classes)


@pytest.mark.parametrize("spec", sorted(RECIPES))
def test_recipe_schedule_and_optimizer_are_the_papers(spec):
    recipe = RECIPES[spec]
    config = _load(spec)
    check_config(config)  # the trainer's own validation, before any data set is opened
    assert config.model.name == recipe.model
    if "dtype" in config.model:  # the trainer computes in bfloat16 where it can
        assert config.model.dtype == "bfloat16"
    steps_per_epoch = recipe.train_size // config.train.global_batch_size
    total = steps_per_epoch * config.train.num_epochs
    schedule = build_schedule(config.optim, total, steps_per_epoch)
    warmup, peak = recipe.warmup_steps, recipe.peak_lr
    assert float(schedule(warmup)) == pytest.approx(peak, rel=1e-6)
    if warmup:
        assert float(schedule(warmup // 2)) == pytest.approx(peak / 2, rel=1e-3)
    if config.optim.schedule == "cosine":
        assert float(schedule(total)) == pytest.approx(0.0, abs=1e-9)
    options = StepOptions.from_config(config)
    assert (
        options.sam_rho, options.mixup_alpha, options.cutmix_alpha, options.erase_prob,
        options.distillation,
    ) == (recipe.sam_rho, recipe.mixup, recipe.cutmix, recipe.erase, recipe.distill)
    params = {"w": jnp.ones((3, 3)), "bias": jnp.ones(3)}
    tx = build_optimizer(config.optim, schedule, steps_per_epoch=steps_per_epoch)
    kinds = {type(s).__name__ for s in jax.tree.leaves(tx.init(params), is_leaf=_is_state)}
    assert ("ScaleByAdamState" in kinds) == (recipe.optimizer == "adamw")
    assert ("TraceState" in kinds) == (recipe.optimizer == "sgd")


def _is_state(node) -> bool:
    return isinstance(node, tuple) and hasattr(node, "_fields")


@pytest.mark.parametrize("spec", sorted(RECIPES))
def test_recipe_preprocessing_makes_the_models_input(spec, monkeypatch):
    from mixer_vit.data import preprocess_ops

    train_size, side = RECIPES[spec].train_size, RECIPES[spec].side
    config = _load(spec)
    calls = []
    real = preprocess_ops.rand_augment

    def counting_rand_augment(image, rng, num_ops, magnitude):
        calls.append((num_ops, magnitude))
        return real(image, rng, num_ops, magnitude)

    monkeypatch.setattr(preprocess_ops, "rand_augment", counting_rand_augment)
    stored = (300, 400, 3) if train_size == IMAGENET_TRAIN else (32, 32, 3)
    image = np.random.default_rng(0).integers(0, 256, stored, dtype=np.uint8)
    example = {"image": image, "label": 3}
    train_pp = preprocess_ops.make_preprocess(config.data.train_pp)
    train = train_pp(example, np.random.default_rng(1))
    evaluated = preprocess_ops.make_preprocess(config.data.eval_pp)(example)
    assert train["image"].shape == evaluated["image"].shape == (side, side, 3)
    assert train["image"].dtype == np.float32
    deit = spec.startswith("imagenet_deit") and not spec.endswith("teacher")
    assert calls == ([(2, 9)] if deit else [])
    assert config.data.augment.repeats == (3 if deit else 1)


# DeiT-S and DeiT-B are DeiT-Ti's step once reduced to the same width: run by `-m slow`.
SAME_STEP_AS_DEIT_TI = ("imagenet_deit.py:s", "imagenet_deit.py:b")
STEP_SPECS = [
    pytest.param(spec, marks=pytest.mark.slow) if spec in SAME_STEP_AS_DEIT_TI else spec
    for spec in sorted(RECIPES)
]


@pytest.mark.parametrize("spec", STEP_SPECS)
def test_recipe_one_train_step_at_reduced_size(spec, monkeypatch):
    """One step of the recipe's train step on random images: finite loss, parameters
    moved, and SAM / batch mixing / erasing / distillation traced into the step exactly
    when the config turns them on, with the config's values."""
    config = _load(spec)
    config.model.overrides.update(_small_overrides(config.model.name))
    options = StepOptions.from_config(config)

    used = {"sam": [], "mix": [], "erase": [], "hard_distillation": 0}
    real_sam = step_module.sam_gradients
    real_mix, real_erase = objective.mixup_or_cutmix, objective.random_erasing

    def sam(value_and_grad, params, rho, **kw):
        used["sam"].append(rho)
        return real_sam(value_and_grad, params, rho, **kw)

    def mix(key, images, targets, **kw):
        if kw["mixup_alpha"] > 0 or kw["cutmix_alpha"] > 0:
            used["mix"].append((kw["mixup_alpha"], kw["cutmix_alpha"], kw["switch_prob"]))
        return real_mix(key, images, targets, **kw)

    def erase(key, images, **kw):
        used["erase"].append(kw["prob"])
        return real_erase(key, images, **kw)

    real_hard = objective.losses.hard_distillation

    def hard(*a):
        used["hard_distillation"] += 1
        return real_hard(*a)

    monkeypatch.setattr(step_module, "sam_gradients", sam)
    monkeypatch.setattr(objective, "mixup_or_cutmix", mix)
    monkeypatch.setattr(objective, "random_erasing", erase)
    monkeypatch.setattr(objective.losses, "hard_distillation", hard)

    model = _build_model(config, NUM_CLASSES)
    if "dtype" in config.model:
        assert model.dtype == jnp.bfloat16
    teacher_model, step_args = None, ()
    if options.distillation != "none":
        model = model.clone(distilled_training=True)
        teacher_model = create_model("resnet152", num_classes=NUM_CLASSES, **SMALL_RESNET)
        image = jnp.zeros((1, SMALL_IMAGE, SMALL_IMAGE, 3))
        step_args = (teacher_model.init(jax.random.PRNGKey(1), image, train=False),)

    mesh = parallel.make_mesh(1)
    schedule = optax.constant_schedule(float(config.optim.lr))
    tx = build_optimizer(config.optim, schedule, accumulation_steps=options.accumulation_steps)
    image_shape = (SMALL_IMAGE, SMALL_IMAGE, 3)
    state = create_train_state(
        model, tx, image_shape, jax.random.PRNGKey(0), parallel.replicated(mesh),
        with_ema=options.ema_decay > 0,
    )
    before = jax.tree.map(np.asarray, state.params)
    train_step = make_train_step(
        model, tx, mesh, base_rng=jax.random.PRNGKey(2), options=options,
        teacher_model=teacher_model,
    )
    batch_size = 4 * options.accumulation_steps
    rng = np.random.default_rng(0)
    batch = {
        "image": rng.normal(size=(batch_size, *image_shape)).astype(np.float32),
        "label": rng.integers(0, NUM_CLASSES, batch_size).astype(np.int32),
    }
    state, metrics = train_step(state, parallel.shard_batch(batch, mesh), *step_args)
    loss = float(metrics["loss"])
    assert np.isfinite(loss) and loss > 0
    moved = jax.tree.map(lambda a, b: float(np.max(np.abs(np.asarray(a) - b))), state.params,
                         before)
    assert max(jax.tree.leaves(moved)) > 0

    assert used["sam"] == ([config.sam.rho] if config.sam.rho > 0 else [])
    mixing = config.augment.mixup_alpha > 0 or config.augment.cutmix_alpha > 0
    assert used["mix"] == (
        [(config.augment.mixup_alpha, config.augment.cutmix_alpha, config.augment.switch_prob)]
        if mixing else []
    )
    assert used["erase"] == ([config.augment.erase_prob] if config.augment.erase_prob else [])
    assert used["hard_distillation"] == (1 if config.distill.kind == "hard" else 0)
