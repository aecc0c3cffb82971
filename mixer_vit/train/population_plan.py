"""What a population run is: ``config.train.population = N`` members, member i being the
run ``config`` with ``seed = config.seed + i``, trained together (train/population_loop.py).

Its workdir holds the population's own files (config.json, checkpoints/, train.log) and
one folder per member, ``members/seed_S/``, with the files a separate run with seed S
writes: config.json (the member's config: that seed, population 0), metrics.jsonl,
tensorboard/ and, once training ended, test_report.json. So a member folder reads like a
finished ordinary workdir (``mixer_vit.experiment.workdir_results``).

Refused with a one-line ``UserError``: distillation (the teacher), SAM per device
(shard_map inside the member vmap), FSDP / tensor-parallel meshes (the member axis would
need its own sharding rules), early stopping (members would stop at different steps) and
multi-process runs. Models with BatchNorm are fine: ``batch_stats`` are per member.
"""

from __future__ import annotations

import copy
import os

import ml_collections

from mixer_vit.errors import UserError

MEMBERS_DIR = "members"

# ``model.kernels=auto`` in a population means these. Under ``jax.vmap`` the CPU-tuned
# linear gradients (bias gradient and bias broadcast as GEMMs with an unbatched block of
# ones) become dots that XLA:CPU feeds through transposed copies of the batched operand:
# a dense layer's forward + backward for 4 members took 58.8 ms tuned vs 31.7 ms reference
# (30.8 ms as 4 unvmapped calls), and whole population steps ran 1.1-1.3x faster with the
# reference kernels (docs/benchmarks.md, "Population training"). ``cpu_tuned`` set
# explicitly is kept.
POPULATION_AUTO_KERNELS = "reference"


def population_size(config: ml_collections.ConfigDict) -> int:
    """``config.train.population`` (0: an ordinary run); configs without the key are 0."""
    size = config.train.get("population", 0) or 0
    if not isinstance(size, int) or size < 0:
        raise UserError(f"train.population must be an integer >= 0, got {size!r}")
    return size


def member_seeds(config: ml_collections.ConfigDict) -> list[int]:
    """``[seed, seed + 1, ..., seed + N - 1]``."""
    return [int(config.seed) + i for i in range(population_size(config))]


def member_config(config: ml_collections.ConfigDict, seed: int) -> ml_collections.ConfigDict:
    """The config of the separate run member ``seed`` equals: the same, with that seed,
    population 0 and the kernels the population computes with (``auto`` resolved to
    ``POPULATION_AUTO_KERNELS``)."""
    member = copy.deepcopy(config)
    with member.unlocked():
        member.seed = seed
        member.train.population = 0
        if (member.model.get("kernels", "auto") or "auto") == "auto":
            member.model.kernels = POPULATION_AUTO_KERNELS
    return member


def member_workdir(workdir: str, seed: int) -> str:
    """WORKDIR/members/seed_S: where member ``seed`` of the population in ``workdir``
    writes its metrics and test report."""
    return os.path.join(workdir, MEMBERS_DIR, f"seed_{seed}")


def check_population(config: ml_collections.ConfigDict, step_options, mesh) -> None:
    """Raises ``UserError`` for a setting a population cannot train (module doc)."""
    if not population_size(config):
        return
    import jax

    refused = {
        "distillation (a teacher)": step_options.distillation != "none",
        "sam.per_device": step_options.sam_per_device and step_options.sam_rho > 0,
        "an FSDP / tensor-parallel mesh (mesh.fsdp or mesh.model > 1)": (
            mesh.shape.get("fsdp", 1) > 1 or mesh.shape.get("model", 1) > 1
        ),
        "early stopping (early_stopping.patience > 0)": config.early_stopping.patience > 0,
        "several processes": jax.process_count() > 1,
    }
    for what, is_set in refused.items():
        if is_set:
            raise UserError(
                f"train.population cannot train with {what}; set --config.train.population=0 "
                f"and run the seeds separately"
            )
