"""Compound scaling, step 1: the grid search of (alpha, beta, gamma) at phi = 1 (EfficientNet).

EfficientNet (Tan & Le 2019) fixes phi = 1 (about twice the base's FLOPs) and grid-searches
the depth, width and resolution coefficients under alpha * beta^2 * gamma^2 ~ 2; the
best (for B0: alpha 1.2, beta 1.1, gamma 1.15) is then used for every phi. Here: every
point of the lattice 1, 1.1, 1.2, ... with |alpha * beta^2 * gamma^2 - 2| <= 0.1, applied to
a small ViT (``mixer_vit/search/compound_scaling.py``: depth round(4 alpha), width 48 beta
to a multiple of 4, resolution 24 gamma to a multiple of the 4-pixel patch). Rounding maps
several points to one model: each distinct model is one arm, named by the first point
giving it (``a120_b110_g120``: alpha 1.2, beta 1.1, gamma 1.2). 17 arms x 2 seeds; about
40 minutes on an idle 2-core CPU (SIZING below; ``--seeds 1`` halves it).

  mixer-vit prepare fashion_mnist                    # once
  mixer-vit experiment compound_grid                 # results in experiments/results/
  mixer-vit experiment compound_grid --dry-run       # the `mixer-vit train` lines
  mixer-vit experiment compound_scaling              # step 2: scale phi = 1, 2 (reads this)

The point is chosen by VALIDATION accuracy only (train[90%:95%], held-out training
images): ``experiments/compound_scaling.py`` reads this experiment's
``experiments/results/compound_grid/results.json`` and scales with its best validation
arm. Test accuracy is in the table for the record, never for the choice.

This file also defines the shared setting of both experiments (the base model, the data,
the schedule, how a scaled shape becomes config overrides): compound_scaling.py loads it.

Resolution: the 28x28 Fashion-MNIST images are resized (bilinear, PIL, antialiased:
the ``resize`` preprocessing op) to the model's resolution, in both the train and the eval
pipelines, then normalised; the base sees 24x24 images (36 tokens), so that a scaled
resolution can grow past the stored 28.

SIZING, from 1-epoch smoke runs of single arms (12,000 images, then the 3,000 validation
and 10,000 test images, start-up and compilation included) on this 2-core CPU while two
other training runs shared it (load average about 7): base 39 s (1,890 img/s), a phi = 1
model (d5-w52-r28, 2x the base's FLOPs, the size of every grid arm) 63 s (637 img/s, 19 s
per epoch, 44 s besides), the phi = 2 model (d6-w60-r32) 88 s (315 img/s), depth only
(d17) 99 s, width only (w104) 64 s, resolution only (r44) 89 s. A grid arm's 8 epochs
then take about 44 + 8 x 19 = 196 s at that load, 34 runs 111 minutes; an idle CPU runs
2.5-3x faster (the shared machine's img/s is under half an idle one's): about 40 minutes.
"""

import importlib.util
import os

from mixer_vit.data.fashion_mnist_stats import PIXEL_MEAN, PIXEL_STD
from mixer_vit.search import compound_scaling as cs

HEADS = 2
BASE = cs.ScalingBase(depth=4, width=48, resolution=24, patch_size=4, width_multiple=4)
GRID_STEP = 0.1
GRID_TOLERANCE = 0.1
MEAN, STD = PIXEL_MEAN, PIXEL_STD
BASE_CONFIG = f"digits_mixer.py:attention,num_heads={HEADS}"
TRAIN_EXAMPLES = "train[:20%]"  # 12,000 images
EPOCHS = 8
BASE_OVERRIDES = {
    "data": {
        "name": "fashion_mnist",
        "train_split": TRAIN_EXAMPLES,
        "eval_split": "train[90%:95%]",
        "test_split": "test",
    },
    "model": {
        "overrides": {
            "patch_size": BASE.patch_size,
            "embed_dim": BASE.width,
            "depth": BASE.depth,
            "mlp_ratio": 4.0,
            "drop_path_rate": 0.1,
        }
    },
    "train": {
        "num_epochs": EPOCHS,
        "eval_every_epochs": EPOCHS,
        "global_batch_size": 128,
        "log_every_steps": 20,
        "end_of_run_images": False,
    },
    "optim": {"lr": 1e-3, "warmup": "1ep"},
}
SETTING = (
    "ViT with self-attention as an isotropic MetaFormer (pre-norm, learned position "
    f"embedding, no class token, mean-pooled head, {HEADS} heads, MLP ratio 4, 4x4 patches, "
    "drop-path 0.1); base depth 4, width 48, 24x24 images (36 tokens; 0.0094 forward "
    "GFLOPs per image as XLA counts them, 2 per multiply-add). Each arm's images are the "
    "28x28 Fashion-MNIST images resized (bilinear) to its resolution, normalised with "
    f"mean {MEAN} and std {STD}; no augmentation. Trained from scratch on "
    f"Fashion-MNIST {TRAIN_EXAMPLES} (12,000 images) for {EPOCHS} epochs, AdamW lr 1e-3, "
    "batch 128, 1-epoch warm-up then cosine; validation train[90%:95%] (3,000 held-out "
    "training images) at the end, the 10,000 test images once. Scaled down from "
    "EfficientNet-B0 on ImageNet (5.3M parameters, 224x224 images, 350 epochs) so that "
    "each experiment fits in 30-40 minutes of an idle 2-core CPU."
)


def base_model_overrides() -> dict:
    """The model overrides every arm shares (digits_mixer.py's, then BASE_OVERRIDES')."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "configs",
                        "digits_mixer.py")
    spec = importlib.util.spec_from_file_location("compound_digits_mixer", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    overrides = module.get_config(BASE_CONFIG.partition(":")[2]).model.overrides.to_dict()
    overrides.update(BASE_OVERRIDES["model"]["overrides"])
    return overrides


def gflops():
    """``gflops(shape)``: XLA's forward GFLOPs per image of a scaled shape (cached)."""
    return cs.xla_gflops("vit_ti16", base_model_overrides(), channels=1, num_classes=10)


def shape_overrides(shape: cs.ModelShape) -> dict:
    """An arm's overrides: depth, width and the resize to its resolution (train and eval)."""
    pp = f"resize({shape.resolution})|normalize({MEAN},{STD})"
    return {
        "model": {"overrides": {"depth": shape.depth, "embed_dim": shape.width}},
        "data": {"train_pp": pp, "eval_pp": pp},
    }


def grid_arms() -> dict:
    """Arm name -> (point, shape): the distinct phi = 1 models of the grid."""
    points = cs.grid(GRID_STEP, GRID_TOLERANCE)
    return {cs.point_name(*point): (point, shape)
            for shape, point in cs.distinct_models(BASE, points, phi=1).items()}


def get_config():
    assert BASE.width_multiple % HEADS == 0, "the heads must divide every scaled width"
    arms = grid_arms()
    config = {}
    config["claim"] = (
        "At phi = 1 (about twice the base's FLOPs) a grid search under alpha * beta^2 * "
        "gamma^2 ~ 2 picks how to share extra compute between depth (alpha), width (beta) "
        "and resolution (gamma); for EfficientNet-B0 it chose alpha 1.2, beta 1.1, gamma "
        "1.15, scaling all three. No rule: this experiment chooses the point (by "
        "validation accuracy) for compound_scaling; which point wins is the result."
    )
    config["setting"] = (
        f"{SETTING} Grid: alpha, beta, gamma on 1, 1.1, 1.2, ... with |alpha * beta^2 * "
        f"gamma^2 - 2| <= {GRID_TOLERANCE} ({len(cs.grid(GRID_STEP, GRID_TOLERANCE))} "
        f"points, {len(arms)} distinct models after rounding; each arm is named by the "
        "first point giving its model). Two seeds per point; the choice is the best mean "
        "validation accuracy, as noisy as two short runs (EfficientNet ran one model per "
        "point)."
    )
    config["base_config"] = BASE_CONFIG
    config["base_overrides"] = BASE_OVERRIDES
    config["arms"] = {name: shape_overrides(shape) for name, (_, shape) in arms.items()}
    config["seeds"] = 2
    nearest = min(arms, key=lambda name: sum(
        (a - b) ** 2 for a, b in zip(arms[name][0], (1.2, 1.1, 1.15))))
    config["published"] = dict(
        source=(
            "EfficientNet (Tan & Le 2019), section 3.3: the grid search at phi = 1 on "
            "B0 gave alpha 1.2, beta 1.1, gamma 1.15 (ImageNet; no per-point accuracies "
            "published)"
        ),
        values={nearest: "EfficientNet's choice 1.2, 1.1, 1.15 lies nearest this point"},
    )
    return config
