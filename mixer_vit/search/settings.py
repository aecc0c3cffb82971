"""A search config file (``experiments/search/*.py``) and its checks.

The file defines ``get_config()`` returning an ``ml_collections.ConfigDict`` with:

- ``train`` (str): the base training config, ``FILE.py[:ARG]`` as ``mixer-vit train
  --config`` takes it (relative: beside the search config, then from the current
  directory); its model must be an isotropic MetaFormer (``vit_*``, ``mixer_*``, ...),
  or a hierarchical one (``poolformer_*``) for a staged space;
- ``train_overrides`` (dict, optional): changes to it, nested like it (data set,
  splits, batch size, optimizer, ...);
- ``space``: the choices per dimension, tuples: ``mixer`` (registered token mixers),
  ``depth``, ``width``, ``mlp_ratio``, ``patch_size``, ``heads`` (for the mixers that
  take ``num_heads``), and ``mixer_kwargs`` (optional: fixed hyper-parameters per mixer,
  e.g. ``{"mlp": {"tokens_mlp_dim": 64}}``); with ``stages`` (an int) it is the staged
  space over the hierarchical MetaFormer, every stage with its own mixer, depth, width,
  MLP ratio and heads (staged_space.py);
- ``constraints`` (optional): ``max_params`` (int), ``max_gflops`` (forward GFLOPs per
  image as XLA counts them), ``max_latency_ms`` (median forward time of a batch of
  ``latency_batch`` images on this machine); 0 is no limit;
- ``strategy`` (str): ``random_search``, ``regularized_evolution``,
  ``successive_halving`` or ``hyperband``;
- ``epochs`` (int): epochs each candidate trains (random search, evolution);
- ``evolution`` (optional): ``population`` (P) and ``sample_size`` (S, the tournament);
- ``halving`` (optional): ``min_epochs``, ``max_epochs`` and ``eta`` (the rungs train
  at min_epochs, min_epochs * eta, ... up to max_epochs and keep the top 1/eta; Hyperband's
  brackets from them: strategies/hyperband.py);
- ``budget`` (int): candidates proposed (random search, evolution) or sampled into the
  first rung (successive halving; Hyperband: into its most aggressive bracket's first
  rung, the other brackets in the paper's proportion; ``eta**s_max`` is the paper's
  sizes, and at least that is required);
- ``seed`` (int): every random draw and every candidate's training seed;
- ``max_samples`` (int, default 200): draws tried for a candidate that meets the
  constraints before the constraints are declared impossible;
- ``references`` (optional): hand-designed models, ``{label: candidate}`` in the space's
  format (plus an optional ``mixer_kwargs``), trained beside the search and compared with
  its front (references.py).

Everything is checked before anything trains: an unknown key, a missing one or a bad
value is a one-line ``UserError``.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

from mixer_vit.config_file import load_config_file, split_config_spec
from mixer_vit.errors import UserError
from mixer_vit.experiment import config_overrides
from mixer_vit.search.constraints import Constraints
from mixer_vit.search.references import Reference, references_from_config
from mixer_vit.search.space import SearchSpace, space_from_config
from mixer_vit.search.staged_space import StagedSearchSpace

STRATEGIES = ("random_search", "regularized_evolution", "successive_halving", "hyperband")
RUNG_STRATEGIES = ("successive_halving", "hyperband")  # rungs from ``halving``
REQUIRED = ("train", "space", "strategy", "budget", "seed")
KNOWN = REQUIRED + (
    "train_overrides", "constraints", "epochs", "evolution", "halving", "max_samples",
    "references",
)


@dataclasses.dataclass(frozen=True)
class SearchSettings:
    """A search config, checked; see the module doc for each field."""

    train: str
    space: SearchSpace | StagedSearchSpace
    strategy: str
    budget: int
    seed: int
    train_overrides: dict = dataclasses.field(default_factory=dict)
    constraints: Constraints = Constraints()
    epochs: int = 1
    population: int = 4
    sample_size: int = 2
    min_epochs: int = 1
    max_epochs: int = 4
    eta: int = 2
    max_samples: int = 200
    references: tuple[Reference, ...] = ()
    config_dir: str = ""

    @property
    def full_epochs(self) -> int:
        """Epochs a candidate that is trained to the end trains (its LR schedule's length)."""
        return self.max_epochs if self.strategy in RUNG_STRATEGIES else self.epochs

    def train_config_path(self) -> str:
        """``train`` with its file resolved (beside the search config, else from the
        current directory), ``:ARG`` kept."""
        path, arg = split_config_spec(self.train)
        beside = os.path.join(self.config_dir, path)
        if not os.path.isabs(path) and self.config_dir and os.path.isfile(beside):
            path = os.path.abspath(beside)
        return path if arg is None else f"{path}:{arg}"

    def identity(self) -> dict[str, Any]:
        """What fixes the search's results: a workdir resumes only under these. The
        references are none of it: they change no trial (references.py checks them)."""
        fields = dataclasses.asdict(self)
        fields.pop("config_dir")
        fields.pop("references")
        fields["train"] = self.train_config_path()
        return fields


def load_settings(path: str, strategy: str | None = None, seed: int | None = None
                  ) -> SearchSettings:
    """Reads and checks the search config file ``path`` (see the module doc), with the
    command line's ``--strategy`` / ``--seed`` in place of the file's where given."""
    if not os.path.isfile(path):
        raise UserError(
            f"search config {path}: no such file; e.g. experiments/search/digits.py"
        )
    values = load_config_file(path).to_dict()
    unknown = sorted(set(values) - set(KNOWN))
    if unknown:
        raise UserError(
            f"search config {path}: unknown key {unknown[0]}; the keys are "
            f"{', '.join(sorted(KNOWN))}"
        )
    missing = [key for key in REQUIRED if key not in values]
    if missing:
        raise UserError(f"search config {path} lacks {missing[0]}; set it in get_config()")
    evolution = dict(values.pop("evolution", None) or {})
    halving = dict(values.pop("halving", None) or {})
    for where, given, keys in (("evolution", evolution, ("population", "sample_size")),
                               ("halving", halving, ("min_epochs", "max_epochs", "eta"))):
        bad = sorted(set(given) - set(keys))
        if bad:
            raise UserError(f"search config {path}: {where} has no key {bad[0]}; its keys "
                            f"are {', '.join(keys)}")
    space = space_from_config(values["space"], path)
    settings = SearchSettings(
        train=str(values["train"]),
        space=space,
        strategy=str(strategy or values["strategy"]),
        budget=values["budget"],
        seed=values["seed"] if seed is None else seed,
        train_overrides=config_overrides.flatten(values.get("train_overrides") or {}),
        constraints=Constraints.from_config(values.get("constraints") or {}, path),
        epochs=values.get("epochs", 1),
        max_samples=values.get("max_samples", 200),
        references=references_from_config(values.get("references") or {}, space, path),
        config_dir=os.path.dirname(os.path.abspath(path)),
        **evolution,
        **halving,
    )
    check_settings(settings, path)
    return settings


def _require(ok: bool, where: str, message: str) -> None:
    if not ok:
        raise UserError(f"search config {where}: {message}")


def check_settings(s: SearchSettings, where: str) -> None:
    """The checks that need no data set and no model."""
    _require(s.strategy in STRATEGIES, where,
             f"unknown strategy {s.strategy!r}; use one of {', '.join(STRATEGIES)}")
    for key in ("budget", "epochs", "population", "sample_size", "min_epochs", "max_epochs",
                "max_samples"):
        value = getattr(s, key)
        _require(isinstance(value, int) and not isinstance(value, bool) and value >= 1, where,
                 f"{key} must be a positive integer, got {value!r}")
    _require(isinstance(s.seed, int) and s.seed >= 0, where,
             f"seed must be an integer >= 0, got {s.seed!r}")
    if s.strategy == "regularized_evolution":
        _require(s.sample_size <= s.population, where,
                 f"evolution.sample_size {s.sample_size} exceeds the population "
                 f"{s.population}; lower sample_size")
        _require(s.budget > s.population, where,
                 f"budget {s.budget} leaves no evolution after the initial population of "
                 f"{s.population}; raise budget above population")
    if s.strategy in RUNG_STRATEGIES:
        _require(isinstance(s.eta, int) and s.eta >= 2, where,
                 f"halving.eta must be an integer >= 2, got {s.eta!r}")
        _require(s.max_epochs >= s.min_epochs, where,
                 f"halving.max_epochs {s.max_epochs} is below min_epochs {s.min_epochs}")
    if s.strategy == "successive_halving":
        _require(s.budget >= s.eta, where,
                 f"budget {s.budget} is below eta {s.eta}: the first rung would keep no "
                 f"candidate; raise budget")
    if s.strategy == "hyperband":
        from mixer_vit.search.strategies.hyperband import max_bracket

        s_max = max_bracket(s.min_epochs, s.max_epochs, s.eta)
        _require(s.budget >= s.eta**s_max, where,
                 f"budget {s.budget} is below eta**s_max = {s.eta**s_max} (hyperband's "
                 f"first bracket halves {s_max} times): its last rung would keep no "
                 f"candidate; raise budget to {s.eta**s_max} (the paper's bracket sizes) "
                 f"or more")


def train_config(s: SearchSettings):
    """The base training config with ``train_overrides`` applied (unknown keys are a
    ``UserError``); its model must be the one the space searches (an isotropic MetaFormer,
    or a hierarchical one for a staged space: ``space.base_model_fields``), with every
    field a candidate sets in its ``model.overrides`` (an exported candidate config
    changes only keys the base config has)."""
    from mixer_vit.models.registry import model_fields

    path = s.train_config_path()
    if not os.path.isfile(split_config_spec(path)[0]):
        raise UserError(
            f"search config: train {s.train!r} names no file (looked beside the search "
            f"config, then from the current directory); e.g. '../configs/digits_mixer.py:identity'"
        )
    config = load_config_file(path)
    config_overrides.check_against(config, s.train_overrides, "search config train_overrides")
    needed = s.space.base_model_fields
    fields = set(model_fields(config.model.name))
    lacking = [field for field in needed if field not in fields]
    if lacking:
        raise UserError(
            f"search config: the base model {config.model.name} has no {lacking[0]}; this "
            f"space needs {s.space.base_model_kind}"
        )
    unset = [field for field in needed if field not in config.model.overrides]
    if unset:
        raise UserError(
            f"search config: the base config's model.overrides lacks {unset[0]}, which "
            f"every candidate sets; add it to the base config {s.train}"
        )
    return config
