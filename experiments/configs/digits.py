"""Default config: a small ViT (or MLP-Mixer) on the embedded digits data set (8x8 grey
images, 10 classes, 1258 / 180 / 359 train / validation / test). Trains in well under a
minute on a 2-core CPU.

  mixer-vit train --config experiments/configs/digits.py --workdir workdirs/digits
  mixer-vit train --config experiments/configs/digits.py:mixer --workdir workdirs/digits_mixer
  mixer-vit train --config experiments/configs/digits.py:poolformer --workdir workdirs/digits_pf
"""

import ml_collections

from mixer_vit.errors import UserError
from ml_collections.config_dict import placeholder

# 4x4 patches (4 tokens of an 8x8 image), width 128, 2 blocks.
MODEL_PRESETS = {
    "vit": (
        "vit_ti16",
        dict(
            patch_size=4,
            embed_dim=128,
            depth=2,
            mixer_kwargs=dict(num_heads=4),
            mlp_ratio=4.0,
            dropout_rate=0.0,
            drop_path_rate=0.1,
        ),
    ),
    "mixer": (
        "mixer_s16",
        dict(
            patch_size=4,
            embed_dim=128,
            depth=2,
            mixer_kwargs=dict(tokens_mlp_dim=64),
            mlp_ratio=4.0,
            dropout_rate=0.0,
            drop_path_rate=0.1,
        ),
    ),
    # A 2-stage hierarchical MetaFormer (PoolFormer's backbone): a 3x3 stride-2 stem (a
    # 4x4 grid), widths 32 then 64 (2x2 grid), one block each, one token mixer per stage
    # (the base of the staged architecture search, experiments/search/*staged*.py). No
    # layer-scale: PoolFormer's 1e-5 start mutes the mixers of a 2-block model for its first
    # epochs (two models that differed only in a mixer had the same loss after 1 epoch).
    "poolformer": (
        "poolformer_s12",
        dict(
            depths=(1, 1),
            dims=(32, 64),
            stage_mixers=("pooling", "pooling"),
            stage_mixer_kwargs=(dict(pool_size=3), dict(pool_size=3)),
            stage_mlp_ratios=(4.0, 4.0),
            patch_size=2,
            stem_kernel_size=3,
            stem_padding=1,
            layer_scale_init=placeholder(float),  # None: no layer-scale
            dropout_rate=0.0,
            drop_path_rate=0.1,
        ),
    ),
}


def get_config(arg=None):
    """arg: the model preset, "vit" (default), "mixer" or "poolformer"."""
    preset = arg or "vit"
    if preset not in MODEL_PRESETS:
        raise UserError(
            f"unknown preset {preset!r} for digits.py; use one of {', '.join(MODEL_PRESETS)}"
        )
    config = ml_collections.ConfigDict()
    config.seed = 0
    config.num_devices = placeholder(int)  # default: every device of every process
    # Mesh (data, fsdp, model); data takes the devices fsdp * model leave. fsdp > 1 shards
    # parameters and optimizer state (FSDP); model > 1 splits heads / MLP units (tensor
    # parallel). The rules: mixer_vit/parallel/rules.py.
    config.mesh = ml_collections.ConfigDict()
    config.mesh.fsdp = 1
    config.mesh.model = 1

    config.model = ml_collections.ConfigDict()
    # A `mixer-vit convert` directory whose weights replace the initial parameters
    # (fine-tuning); empty: train from the random initialisation.
    config.model.init_from = ""
    config.model.init_fresh = ""  # regex of parameters kept fresh, e.g. "^head/" (new classes)
    config.model.name, overrides = MODEL_PRESETS[preset]
    config.model.overrides = ml_collections.ConfigDict(overrides)
    # Compute dtype: float32 | bfloat16 | float16 (parameters stay float32).
    config.model.dtype = "float32"
    # Layer kernels: auto (tuned on CPU, reference elsewhere) | reference | cpu_tuned.
    config.model.kernels = "auto"
    # A model with a distillation token (deit_*_distilled) predicts outside training with
    # both heads averaged | class (the class token's head) | distillation (DeiT Table 3).
    config.model.inference_head = "both"

    config.data = ml_collections.ConfigDict()
    config.data.name = "sklearn_digits"
    config.data.data_dir = placeholder(str)  # default: $TFDS_DATA_DIR or ~/tensorflow_datasets
    # Split names or TFDS split expressions: "train[:90%]", "train[54000:]",
    # "train+validation" (e.g. a validation split carved from train).
    config.data.train_split = "train"
    config.data.eval_split = "validation"
    config.data.test_split = "test"
    # A JSON list of example indices into train_split: train on those examples only (e.g.
    # an active-learning round's labelled set). Empty: the whole split.
    config.data.train_indices_file = ""
    # Train on a class-imbalanced subset of train_split: "step:RATIO[:MINORITY]" or
    # "long_tail:RATIO" (mixer_vit/data/class_imbalance.py), drawn with this seed. Empty: off.
    config.data.class_imbalance = ""
    config.data.class_imbalance_seed = 0
    # Open-set split: class ids held out of training (e.g. (4, 6)); the run trains on the
    # others, renumbered 0..K'-1, and its test report compares rejection rules on the
    # validation and test images of the held-out classes (data/open_set_split.py).
    config.data.unknown_classes = ()
    config.data.in_memory = True  # decode the small data set once
    # Preprocessing specs (ops joined by "|", see mixer_vit/data/preprocess_ops.py), e.g.
    # train_pp "random_resized_crop(224)|flip|randaugment(2,9)|normalize(imagenet)" and
    # eval_pp "resize_small(256)|center_crop(224)|normalize(imagenet)". Empty: uint8 ->
    # float with data.mean / data.std below (and data.augment for training).
    config.data.train_pp = ""
    config.data.eval_pp = ""
    config.data.skip_corrupt = False  # skip unreadable examples with a warning
    # Input reading (grain): threads, batches read ahead, worker processes (0: none).
    config.data.num_threads = 2
    config.data.prefetch_batches = 4
    config.data.worker_processes = 0
    # Input-pipeline augmentation of training images (off here: digits are 8x8 glyphs).
    config.data.augment = ml_collections.ConfigDict()
    config.data.augment.crop_scale = ""  # random resized crop, area fractions "low,high"
    config.data.augment.flip = False  # random left-right flip
    config.data.augment.randaugment_ops = 0  # RandAugment: ops per image (2 is usual)
    config.data.augment.randaugment_magnitude = 9.0  # 0..10
    config.data.augment.repeats = 1  # repeated augmentation (3 in DeiT)
    config.data.mean = 0.5
    config.data.std = 0.5

    config.train = ml_collections.ConfigDict()
    config.train.global_batch_size = 64
    config.train.num_epochs = 40
    config.train.log_every_steps = 20
    config.train.checkpoint_every_steps = 500
    config.train.max_checkpoints_to_keep = 3
    config.train.grad_accum_steps = 1  # micro-batches per step (same result, less memory)
    config.train.halt_after_steps = placeholder(int)  # stop this invocation early (resume later)
    config.train.device_prefetch = 1  # batches copied to the devices ahead of their step
    config.train.eval_every_epochs = 1  # validation (and early stopping) every N epochs
    # At the end: the curves, confusion matrix, reliability diagram and the model's
    # pictures (attention, token mixing; `mixer-vit show`) as TensorBoard images.
    config.train.end_of_run_images = True
    # Population training: N > 0 trains N members, seeds seed .. seed + N - 1, in one
    # process and one jitted step vmapped over members; member i equals the separate run
    # with its seed and writes its results to WORKDIR/members/seed_S (docs/training.md).
    # 0: an ordinary run.
    config.train.population = 0
    # Per-member values of a population, one per member: "KEY=V1,V2,...;KEY=...", KEY one
    # of seed, optim.lr, optim.weight_decay (train/population_hparams.py); "": seeds only.
    config.train.population_hparams = ""

    config.optim = ml_collections.ConfigDict()
    config.optim.name = "adamw"
    config.optim.lr = 1e-3
    config.optim.b1 = 0.9
    config.optim.b2 = 0.999
    config.optim.eps = 1e-8
    config.optim.momentum = 0.9  # sgd only
    config.optim.nesterov = False  # sgd only
    config.optim.weight_decay = 0.05
    # Durations: steps ("500"), epochs ("5ep") or percent of training ("10%").
    config.optim.warmup = "5ep"  # linear warm-up from 0, before any schedule
    config.optim.schedule = "cosine"  # cosine | cosine_restarts | step | constant
    config.optim.end_lr_factor = 0.0  # cosine(_restarts): final lr = lr * end_lr_factor
    config.optim.restart_period = "10ep"  # cosine_restarts: first cycle length
    config.optim.restart_mult = 2.0  # cosine_restarts: each cycle this much longer
    config.optim.decay_at = "30ep,60ep,90ep"  # step: multiply lr by decay_factor at these
    config.optim.decay_factor = 0.1
    config.optim.grad_clip_norm = 1.0
    config.optim.no_decay = r"(^|/)bias$|(^|/)scale$|pos_embed|cls_token|dist_token"
    config.optim.lr_mults = ""  # e.g. "head:10, pos_embed:0.1" (first matching rule wins)
    config.optim.freeze = ""  # regex of parameters that never change, e.g. "^patch_embed"
    # Reduce-on-plateau on the validation loss: lr *= factor after `patience` flat epochs.
    config.optim.plateau = ml_collections.ConfigDict(
        dict(factor=1.0, patience=3, rtol=1e-4, cooldown=0)  # factor 1.0: off
    )

    config.sam = ml_collections.ConfigDict()
    config.sam.rho = 0.0  # > 0 turns SAM on (0.05 is the paper's default)
    config.sam.adaptive = False  # ASAM: perturbation relative to |w| + eta
    config.sam.eta = 0.01
    config.sam.per_device = False  # m-sharpness: each device perturbs with its own gradient

    config.ema = ml_collections.ConfigDict()
    config.ema.decay = 0.0  # > 0 keeps an EMA of the parameters, e.g. 0.999
    config.ema.evaluate = True  # evaluate with the EMA parameters when EMA is on

    config.augment = ml_collections.ConfigDict()
    config.augment.mixup_alpha = 0.0  # > 0 turns mixup on (0.8 in DeiT)
    config.augment.cutmix_alpha = 0.0  # > 0 turns CutMix on (1.0 in DeiT)
    config.augment.switch_prob = 0.5  # when both are on: chance of CutMix per batch
    config.augment.erase_prob = 0.0  # random erasing / cutout per image
    config.augment.erase_area = "0.02,0.33"  # erased fraction of the image, low,high

    config.distill = ml_collections.ConfigDict()
    config.distill.kind = "none"  # none | soft | hard (hard: DeiT's distillation token)
    config.distill.teacher_workdir = ""  # a finished `mixer-vit train` workdir
    config.distill.temperature = 3.0  # soft only
    config.distill.alpha = 0.5  # soft only: weight of the distillation term

    config.early_stopping = ml_collections.ConfigDict()
    config.early_stopping.patience = 0  # > 0: stop after this many epochs without gain
    config.early_stopping.metric = "accuracy"  # validation accuracy | loss
    config.early_stopping.min_delta = 0.0

    config.loss = ml_collections.ConfigDict()
    config.loss.name = "softmax"  # softmax | sigmoid (cross-entropy)
    config.loss.label_smoothing = 0.1
    # none | inverse_frequency | effective_number:BETA (mixer_vit/class_weights.py)
    config.loss.class_weights = "none"

    # At the end of training: the largest Hessian eigenvalue of the training loss on this
    # many fixed training examples (no augmentation or dropout), by power iteration, into
    # test_report.json's "sharpness" (mixer_vit/train/sharpness.py). 0: off.
    config.sharpness = ml_collections.ConfigDict()
    config.sharpness.examples = 0
    config.sharpness.iterations = 20  # the most Hessian-vector products
    config.sharpness.tolerance = 1e-3  # stop once the estimate changes less than this (relative)
    return config
