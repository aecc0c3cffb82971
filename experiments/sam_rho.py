"""Issue 19, experiment 2 (first part): SAM's radius rho per model family, chosen on
validation for ``experiments/sam_by_family.py``.

rho is chosen by validation accuracy: for each family (ViT, MLP-Mixer, ResNet) the rho
whose run has the best accuracy on the held-out train[90%:95%] (the results table's
validation column) becomes that family's ``RHO`` in sam_by_family.py, whose SAM arms
use it; the test accuracies printed here play no part in the choice. Same setting as
sam_by_family.py (its ``FAMILIES``, ``BASE_OVERRIDES`` and ``SETTING`` are loaded from
that file), one seed, two radii: 0.05 (the SAM paper's default) and 0.2 (the larger
radius vision transformers are trained with).

  mixer-vit prepare fashion_mnist                   # once
  mixer-vit experiment sam_rho                      # ~15 min on a 2-core CPU
  mixer-vit experiment sam_rho --dry-run            # the `mixer-vit train` lines

Cost: 6 SAM runs of 12 epochs on 3,000 images, about 15 minutes of an idle 2-core CPU (a
SAM step costs 1.6-1.8x a plain one, see sam_by_family.py).
"""

import importlib.util
import os

import ml_collections

RHOS = (0.05, 0.2)


def _sam_by_family():
    """experiments/sam_by_family.py, loaded by path (experiment files are not a package)."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sam_by_family.py")
    spec = importlib.util.spec_from_file_location("sam_by_family_experiment", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def rho_label(rho: float) -> str:
    """0.05 -> "0p05" (arm names are identifiers)."""
    return f"{rho:g}".replace(".", "p")


def get_config():
    family_experiment = _sam_by_family()
    config = ml_collections.ConfigDict()
    config.claim = (
        "Which SAM radius rho to use per family in sam_by_family: the one with the best "
        "validation accuracy (larger radii are reported best for ViTs and Mixers than "
        "for ResNets). Rule: none; the verdict is the choice, read from the validation "
        "column."
    )
    config.setting = (
        f"{family_experiment.SETTING} rho in {', '.join(f'{r:g}' for r in RHOS)}, one seed."
    )
    config.base_config = family_experiment.FAMILIES["vit"]
    config.base_overrides = family_experiment.BASE_OVERRIDES
    config.arms = {
        f"{family}_rho{rho_label(rho)}": {
            "series": family,
            **family_experiment.sam_arm(family, rho),
        }
        for family in family_experiment.FAMILIES
        for rho in RHOS
    }
    config.seeds = 1
    config.plot_x = "sam.rho"
    config.plot_series = "series"
    config.metrics = (("sharpness.hessian_top_eigenvalue", "top Hessian eigenvalue"),)
    config.published = dict(
        source=(
            "Foret et al. 2021 (SAM) use rho 0.05 for ImageNet ResNets; Chen, Hsieh and "
            "Gong 2021 tune rho per model and report larger values for ViTs and Mixers "
            "(quoted from memory, not re-checked)"
        ),
        values={
            "resnet_rho0p05": "ResNet default (Foret et al.)",
            "vit_rho0p2": "ViT range (Chen et al.)",
            "mixer_rho0p2": "Mixer range (Chen et al.)",
        },
    )
    return config
