"""Issue 19, experiment 2: SAM by model family (Chen, Hsieh and Gong 2021, "When Vision
Transformers Outperform ResNets without Pretraining or Strong Data Augmentations").

The claim: trained from scratch without strong augmentation, ViTs and MLP-Mixers converge
to much sharper minima than ResNets, and sharpness-aware minimisation (SAM) helps them far
more: ImageNet top-1 +5.3 for ViT-B/16 and +11.0 for Mixer-B/16, against about +1 for a
ResNet. Here: a small ViT, MLP-Mixer and ResNet on a 3,000-image subset of Fashion-MNIST,
each with and without SAM, 2 seeds; each run also measures the sharpness of the solution
it found, the largest Hessian eigenvalue of its training loss (``sharpness.examples``).

  mixer-vit prepare fashion_mnist                        # once
  mixer-vit experiment sam_rho                           # first: rho per family (~15 min)
  mixer-vit experiment sam_by_family                     # ~25 min on a 2-core CPU
  mixer-vit experiment sam_by_family --dry-run           # the `mixer-vit train` lines

rho: the SAM arms use ``RHO`` below, one value per family, chosen by validation accuracy
in ``experiments/sam_rho.py`` (the rho with the best validation accuracy,
experiments/results/sam_rho/results.md; never by test accuracy): 0.05 won for all three
families (0.2 was worse on validation for each).

Cost: a SAM step takes two forward-backward passes; measured on this CPU with
``python -m mixer_vit.bench.step_cost --config experiments/configs/fashion_mnist.py:vit``
(and ``:mixer``, ``:resnet``) it costs 1.6x (ViT, Mixer) to 1.8x (ResNet) a plain step,
the optimizer update and the input being shared. Sizing, from a 1-epoch run of vit_sam
on the shared machine (145 img/s, about half of idle) and the step costs: 12 epochs of
3,000 images take ~100 s (ViT), ~50 s (Mixer, ResNet) plain and 1.6-1.8x that with SAM;
with start-up and compilation, the validation and test passes and the sharpness
measurement (128 examples, at most 20 Hessian-vector products per power iteration,
10-30 s) the 12 runs take about 25 minutes of an idle 2-core CPU.
"""

import ml_collections

# family -> config preset of experiments/configs/fashion_mnist.py (0.3M-0.7M parameters)
FAMILIES = {
    "vit": "fashion_mnist.py:vit",  # 4x4 patches, width 96, 6 blocks, 3 heads
    "mixer": "fashion_mnist.py:mixer",  # 4x4 patches, width 96, 6 blocks, token MLP 64
    "resnet": "fashion_mnist.py:resnet",  # ResNet-18 layout, widths 16-32-64-128
}
# SAM's neighbourhood radius per family: the best validation accuracy of sam_rho.py.
RHO = {"vit": 0.05, "mixer": 0.05, "resnet": 0.05}  # sam_rho: 0.05 best on validation for all three
SHARPNESS_EXAMPLES = 128  # fixed training examples of the top-eigenvalue measurement
EPOCHS = 12  # of 23 steps (3,000 images, batch 128); validation once, at the end

BASE_OVERRIDES = {
    "data": {"train_split": "train[:5%]", "eval_split": "train[90%:95%]"},
    "train": {"num_epochs": EPOCHS, "eval_every_epochs": EPOCHS, "log_every_steps": 23},
    "optim": {"warmup": "10%"},
    "sharpness": {"examples": SHARPNESS_EXAMPLES},
}
SETTING = (
    "Fashion-MNIST 28x28 grey, training subset train[:5%] (3,000 images) for 12 epochs "
    "(276 steps of 128); validation train[90%:95%] (3,000 held-out training images) at "
    "the end, test (10,000) once. Models (experiments/configs/fashion_mnist.py): ViT (4x4 "
    "patches, width 96, 6 blocks, 3 heads, MLP ratio 2, mean-pooled, 0.46M parameters), "
    "MLP-Mixer (4x4 patches, width 96, 6 blocks, token MLP 64, channel MLP ratio 2), "
    "ResNet (ResNet-18 layout at a quarter width, 16-32-64-128, 3x3 stem, 0.7M). Basic "
    "augmentation only (padded random crop + flip, as the paper's 'no strong "
    "augmentation'), AdamW lr 1e-3, wd 0.05, 10% warm-up then cosine, label smoothing "
    "0.1, drop-path 0.1 (ViT, Mixer). SAM: the plain SAM ascent step of radius rho "
    "per family (RHO, chosen on validation by sam_rho.py). Sharpness: the largest "
    "Hessian eigenvalue of the training loss (no augmentation or dropout) on 128 fixed "
    "training examples. Scaled down from the paper (ImageNet, ViT-B/16, Mixer-B/16 and "
    "ResNet-50/152 for 300 epochs on TPUs) to fit half an hour of a 2-core CPU: a small, "
    "short, small-data check of the ordering of the gains, not of their size."
)


def sam_arm(family: str, rho: float) -> dict:
    return {"config": FAMILIES[family], "sam": {"rho": rho}}


def get_config():
    config = ml_collections.ConfigDict()
    config.claim = (
        "SAM helps ViTs and MLP-Mixers far more than ResNets (Chen, Hsieh and Gong 2021, "
        "ImageNet from scratch: ViT-B/16 +5.3, Mixer-B/16 +11.0 top-1 against about +1 for "
        "ResNets), and it finds much flatter minima for them (a far smaller largest "
        "Hessian eigenvalue). Rule: SAM's test-accuracy gain for the ViT and for the Mixer "
        "is each larger than for the ResNet."
    )
    config.setting = SETTING
    config.base_config = FAMILIES["vit"]
    config.base_overrides = BASE_OVERRIDES
    config.arms = {}
    for family, preset in FAMILIES.items():
        config.arms[family] = {"config": preset}
        config.arms[f"{family}_sam"] = sam_arm(family, RHO[family])
    config.seeds = 2
    config.metrics = (("sharpness.hessian_top_eigenvalue", "top Hessian eigenvalue"),)
    config.published = dict(
        source=(
            "Chen, Hsieh and Gong 2021 (arXiv 2106.01548), ImageNet top-1 trained from "
            "scratch with basic (Inception-style) augmentation, without / with SAM, and the "
            "largest Hessian eigenvalue of the training loss in brackets. The ViT and Mixer "
            "gains (+5.3, +11.0) are the ones the claim cites; the individual accuracies, "
            "the ResNet rows and the eigenvalues are quoted from memory, not re-checked."
        ),
        values={
            "vit": "ViT-B/16 74.6 (lambda_max 738.8)",
            "vit_sam": "ViT-B/16 + SAM 79.9 (+5.3; lambda_max 20.9)",
            "mixer": "Mixer-B/16 66.4 (lambda_max 1644.4)",
            "mixer_sam": "Mixer-B/16 + SAM 77.4 (+11.0; lambda_max 22.5)",
            "resnet": "ResNet-152 78.5 (lambda_max 179.8)",
            "resnet_sam": "ResNet-152 + SAM 79.3 (about +1; lambda_max 42.0)",
        },
    )
    config.rule = (
        "vit_sam - vit > resnet_sam - resnet and mixer_sam - mixer > resnet_sam - resnet"
    )
    return config
