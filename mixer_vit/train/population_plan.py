"""What a population run is: ``config.train.population = N`` members, member i being the
run ``config`` with ``seed = config.seed + i``, trained together (train/population_loop.py).
``config.train.population_hparams`` (train/population_hparams.py) may give each member its
own seed, ``optim.lr`` and ``optim.weight_decay``; member i is then the run ``config`` with
its values.

Its workdir holds the population's own files (config.json, checkpoints/, train.log) and
one folder per member with the files a separate run of that member writes: config.json
(the member's config: its seed and values, population 0), metrics.jsonl, tensorboard/
and, once training ended, test_report.json. So a member folder reads like a finished
ordinary workdir (``mixer_vit.experiment.workdir_results``). The folder is
``members/seed_S/`` when members differ only by seed, else ``members/NAME_V..._seed_S/``
with each per-member value, e.g. ``members/lr_0.003_weight_decay_0.1_seed_0/``.

Refused with a one-line ``UserError``: distillation (the teacher), SAM per device
(shard_map inside the member vmap), FSDP / tensor-parallel meshes (the member axis would
need its own sharding rules), early stopping (members would stop at different steps) and
multi-process runs. Models with BatchNorm are fine: ``batch_stats`` are per member.
"""

from __future__ import annotations

import copy
import dataclasses
import os

import ml_collections

from mixer_vit.errors import UserError
from mixer_vit.train.config_checks import check_config
from mixer_vit.train.population_hparams import SEED, parse_population_hparams

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


@dataclasses.dataclass(frozen=True)
class Member:
    """Member ``index`` of a population: its seed and its per-member values
    (``{"optim.lr": 0.003, ...}``; empty when members differ only by seed)."""

    index: int
    seed: int
    hparams: dict[str, float] = dataclasses.field(default_factory=dict)

    @property
    def folder(self) -> str:
        """``seed_S``, or ``lr_V_weight_decay_V_seed_S`` with per-member values (``repr``
        of each float, so distinct members get distinct names)."""
        values = [f"{key.rsplit('.', 1)[-1]}_{value!r}" for key, value in self.hparams.items()]
        return "_".join([*values, f"seed_{self.seed}"])

    def describe(self) -> str:
        """``seed 0, optim.lr 0.003``: for messages."""
        return ", ".join([f"seed {self.seed}", *(f"{k} {v!r}" for k, v in self.hparams.items())])


def population_members(config: ml_collections.ConfigDict) -> list[Member]:
    """The members of ``config``'s population (``[]`` for an ordinary run); ``UserError``
    for a bad ``train.population_hparams``, two identical members, or a member value its
    own run would refuse (e.g. ``optim.lr`` <= 0)."""
    size = population_size(config)
    lists = parse_population_hparams(config, size)
    seeds = lists.pop(SEED, [int(config.seed) + i for i in range(size)])
    members = [
        Member(i, seed, {key: column[i] for key, column in lists.items()})
        for i, seed in enumerate(seeds)
    ]
    seen: dict[tuple, Member] = {}
    for member in members:
        same = seen.setdefault((member.seed, *member.hparams.values()), member)
        if same is not member:
            raise UserError(
                f"train.population_hparams: members {same.index} and {member.index} are the "
                f"same run ({member.describe()}); give each member another seed or value"
            )
        try:
            check_config(member_config(config, member))
        except UserError as error:
            raise UserError(f"train.population_hparams member {member.index}: {error}") from None
    return members


def varies_hparams(config: ml_collections.ConfigDict) -> bool:
    """Whether members differ in more than their seed (the optimizer state then holds each
    member's ``optim.lr`` and ``optim.weight_decay``: optim/injected.py)."""
    return any(member.hparams for member in population_members(config))


def member_seeds(config: ml_collections.ConfigDict) -> list[int]:
    """Each member's seed: ``[seed, seed + 1, ..., seed + N - 1]`` unless
    ``train.population_hparams`` names them."""
    return [member.seed for member in population_members(config)]


def member_config(
    config: ml_collections.ConfigDict, member: Member | int
) -> ml_collections.ConfigDict:
    """The config of the separate run ``member`` (a ``Member``, or a seed) equals: the
    same, with its seed and values, population 0 and the kernels the population computes
    with (``auto`` resolved to ``POPULATION_AUTO_KERNELS``)."""
    if isinstance(member, int):
        member = Member(0, member)
    run = copy.deepcopy(config)
    with run.unlocked():
        run.seed = member.seed
        run.train.population = 0
        if "population_hparams" in run.train:
            run.train.population_hparams = ""
        with run.ignore_type():  # a float value for a field written as an int (0)
            for key, value in member.hparams.items():
                section, name = key.split(".")
                run[section][name] = value
        if (run.model.get("kernels", "auto") or "auto") == "auto":
            run.model.kernels = POPULATION_AUTO_KERNELS
    return run


def member_workdir(workdir: str, member: Member | int) -> str:
    """WORKDIR/members/FOLDER (``Member.folder``; ``seed_S`` for a seed): where that member
    of the population in ``workdir`` writes its metrics and test report."""
    folder = member.folder if isinstance(member, Member) else f"seed_{member}"
    return os.path.join(workdir, MEMBERS_DIR, folder)


def check_population(config: ml_collections.ConfigDict, step_options, mesh) -> None:
    """Raises ``UserError`` for a setting a population cannot train (module doc)."""
    members = population_members(config)  # also refuses per-member values without N
    if not members:
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
