"""Loading and checking an experiment file (``experiments/NAME.py``).

An experiment file defines ``get_config()`` returning a ``ConfigDict`` (or dict) with:

- ``claim`` (str): the claim in words;
- ``base_config`` (str): ``FILE[:ARG]``, a config file in ``experiments/configs/`` (or a
  path), as ``mixer-vit train --config`` takes it;
- ``base_overrides`` (dict, optional): config overrides every arm shares;
- ``arms`` (dict): arm name -> config overrides, nested dicts mirroring the config tree
  (dotted keys such as ``"optim.lr"`` too where the file returns a plain dict: a
  ``ConfigDict`` refuses dots in keys); the key
  ``config`` in an arm replaces ``base_config`` for that arm;
- ``seeds`` (int, default 3); ``setting`` (str, optional): the setting in words;
- ``published`` (optional): ``dict(source=str, values={arm: number or text})``;
- ``rule`` (str, optional): when the claim holds, an expression over arm names (each the
  arm's mean test accuracy), numbers, ``+ - * /``, comparisons, ``and``/``or``/``not``;
- ``plot_x`` (str, optional): what the accuracy plot's x axis shows: a numeric override
  key (e.g. ``"optim.lr"``, a linear axis) or a quantity the runner derives per run,
  ``DERIVED_PLOT_X``: ``"train_examples"``, the number of training examples the run read
  (its ``data.train_split`` counted by TFDS's split info), drawn on a log axis;
- ``metrics`` (dict, optional): extra columns of the results table, each a dotted path
  into the run's ``test_report.json`` (a number, e.g. ``"ece"`` or
  ``"temperature_scaling.ece"``) mapped to its column label (in a ``ConfigDict``, which
  refuses dots in keys: a tuple of (path, label) pairs); every run summary keeps all the
  report's numbers under ``report``, so a metric added later needs no rerun;
- ``plot_series`` (str, optional): one line per value of this override key, of ``config``,
  or of ``series``, the arms' own labels: an arm may carry ``"series": "ViT"`` beside its
  overrides (a plot label only, never passed to the train command).

An arm's override value may be the string ``"{workdir:ARM}"``: it becomes the workdir of
arm ARM for the same seed, and ARM's runs come first (e.g. a distillation teacher:
``{"distill": {"teacher_workdir": "{workdir:teacher}"}}``).

Example (data efficiency): ``plot_x = "train_examples"``, ``plot_series = "series"``, arms
``{"vit_1pct": {"series": "ViT", "data": {"train_split": "train[:1%]"}}, ...}``.

Everything is checked before any run starts: unknown keys end in a one-line ``UserError``.
"""

from __future__ import annotations

import dataclasses
import glob
import importlib.util
import os
import re
from collections.abc import Mapping
from typing import Any

import ml_collections

from mixer_vit.errors import UserError
from mixer_vit.experiment import config_overrides

EXPERIMENT_KEYS = {
    "claim",
    "base_config",
    "base_overrides",
    "arms",
    "seeds",
    "setting",
    "published",
    "rule",
    "plot_x",
    "plot_series",
    "metrics",
}
WORKDIR_REFERENCE = re.compile(r"^\{workdir:([A-Za-z_][A-Za-z0-9_]*)\}$")
# plot_x values that name a per-run quantity the runner records, not an override.
DERIVED_PLOT_X = ("train_examples",)
SERIES = "series"  # the arm key of its plot label
ARM_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclasses.dataclass(frozen=True)
class Arm:
    """One arm: its config file spec (``FILE[:ARG]``) and flat overrides (base ones first)."""

    name: str
    config: str
    overrides: dict[str, Any]
    data_set: tuple[str, str | None] | None = None  # (data.name, data.data_dir) it trains on
    train_split: str | None = None  # data.train_split as its config resolves it
    series: str = ""  # its plot label (the arm's optional "series" key)


@dataclasses.dataclass(frozen=True)
class ExperimentSpec:
    name: str
    path: str
    claim: str
    setting: str
    base_config: str
    arms: dict[str, Arm]
    seeds: int
    published_source: str = ""
    published_values: dict[str, Any] = dataclasses.field(default_factory=dict)
    rule: str = ""
    plot_x: str = ""
    plot_series: str = ""
    metrics: dict[str, str] = dataclasses.field(default_factory=dict)  # report path -> label

    def identity(self) -> dict[str, Any]:
        """What makes two results folders the same experiment (JSON form)."""
        return {
            "experiment": self.name,
            "base_config": self.base_config,
            "arms": {a.name: {"config": a.config, **a.overrides} for a in self.arms.values()},
        }


def experiments_dir() -> str:
    """``./experiments`` when it exists, else the one beside the installed package."""
    if os.path.isdir("experiments"):
        return "experiments"
    here = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    return os.path.join(here, "experiments")


def find_experiment_file(name: str) -> str:
    """NAME (a file ``experiments/NAME.py``) or a path to an experiment file."""
    if name.endswith(".py") and os.path.isfile(name):
        return name
    path = os.path.join(experiments_dir(), f"{name}.py")
    if os.path.isfile(path) and name not in ("__init__",):
        return path
    known = experiment_names()
    raise UserError(
        f"unknown experiment {name!r} (no {path}); experiments: {', '.join(known) or 'none'}"
    )


def experiment_names() -> list[str]:
    """The NAMEs of the experiment files in ``experiments_dir()``, sorted."""
    return sorted(
        os.path.basename(p)[:-3]
        for p in glob.glob(os.path.join(experiments_dir(), "*.py"))
        if not os.path.basename(p).startswith("_")
    )


def _exec_file(path: str, module_name: str):
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def resolve_config_file(config: str, beside: str) -> str:
    """``FILE[:ARG]`` with FILE found as given or in ``beside/configs/``; FILE is returned
    relative to the current directory when it lies below it."""
    file, sep, arg = config.partition(":")
    candidates = [file, os.path.join(beside, "configs", file)]
    found = next((c for c in candidates if os.path.isfile(c)), None)
    if found is None:
        raise UserError(
            f"config file {file!r} not found (looked in ., {os.path.join(beside, 'configs')}); "
            f"name a file in experiments/configs/"
        )
    relative = os.path.relpath(found)
    found = relative if not relative.startswith("..") else os.path.abspath(found)
    return f"{found}{sep}{arg}"


def load_base_config(config: str) -> ml_collections.ConfigDict:
    """Calls the config file's ``get_config`` as ``mixer-vit train --config`` does."""
    file, sep, arg = config.partition(":")
    module = _exec_file(file, "mixer_vit_experiment_base_config")
    try:
        return module.get_config(arg) if sep else module.get_config()
    except (ValueError, TypeError, KeyError) as e:
        raise UserError(f"config {config}: {' '.join(str(e).split())}") from None


def _as_dict(value: Any, what: str) -> dict:
    if value is None:
        return {}
    if isinstance(value, ml_collections.ConfigDict):
        return value.to_dict()
    if isinstance(value, Mapping):
        return dict(value)
    raise UserError(f"{what} must be a dict, got {type(value).__name__}")


def load_experiment(name: str) -> ExperimentSpec:
    """Loads and checks experiment NAME (or a path to an experiment file)."""
    path = find_experiment_file(name)
    exp_name = os.path.basename(path)[:-3]
    where = f"experiment {exp_name}"
    try:
        raw = _as_dict(_exec_file(path, f"mixer_vit_experiment_{exp_name}").get_config(), where)
    except (ValueError, TypeError, KeyError, AttributeError) as e:
        hint = "; write nested dicts, e.g. {'optim': {'lr': 1e-3}}" if "dots" in str(e) else ""
        raise UserError(f"{where} ({path}): {' '.join(str(e).split())}{hint}") from None
    unknown = sorted(set(raw) - EXPERIMENT_KEYS)
    if unknown:
        raise UserError(
            f"{where}: unknown key {unknown[0]!r}; experiment keys: "
            f"{', '.join(sorted(EXPERIMENT_KEYS))}"
        )
    for key in ("claim", "base_config", "arms"):
        if not raw.get(key):
            raise UserError(f"{where}: missing {key!r}; see docs/experiments.md")
    beside = os.path.dirname(path)
    base_config = resolve_config_file(str(raw["base_config"]), beside)
    base_overrides = config_overrides.flatten(_as_dict(raw.get("base_overrides"), "base_overrides"))
    arms = {}
    for arm_name, arm_raw in _as_dict(raw["arms"], "arms").items():
        if not ARM_NAME.match(arm_name):
            raise UserError(
                f"{where}: arm name {arm_name!r} must be letters, digits and _ (not first)"
            )
        overrides = config_overrides.flatten(_as_dict(arm_raw, f"arm {arm_name}"))
        config = overrides.pop("config", None)
        series = overrides.pop(SERIES, "")
        if not isinstance(series, str):
            raise UserError(f"{where}: arm {arm_name}'s series must be a str, got {series!r}")
        config = resolve_config_file(str(config), beside) if config else base_config
        merged = {**base_overrides, **overrides}
        merged.pop("seed", None)  # the runner sets the seed
        resolved = load_base_config(config)
        config_overrides.check_against(resolved, merged, f"arm {arm_name} of {where}")
        data = resolved.get("data")
        data_set = (data.get("name"), data.get("data_dir")) if data and data.get("name") else None
        train_split = str(data.get("train_split")) if data and data.get("train_split") else None
        arms[arm_name] = Arm(arm_name, config, merged, data_set, train_split, series)
    seeds = int(raw.get("seeds", 3))
    published = _as_dict(raw.get("published"), "published")
    spec = ExperimentSpec(
        name=exp_name,
        path=path,
        claim=" ".join(str(raw["claim"]).split()),
        setting=" ".join(str(raw.get("setting", "")).split()),
        base_config=base_config,
        arms=arms,
        seeds=seeds,
        published_source=str(published.get("source", "")),
        published_values=_as_dict(published.get("values"), "published.values"),
        rule=str(raw.get("rule", "") or ""),
        plot_x=str(raw.get("plot_x", "") or ""),
        plot_series=str(raw.get("plot_series", "") or ""),
        metrics=_metrics(raw.get("metrics"), where),
    )
    _check_references(spec, where)
    return spec


def _metrics(value: Any, where: str) -> dict[str, str]:
    """The ``metrics`` key checked: {dotted report path: column label}, from a dict or
    (a ``ConfigDict`` refuses dots in its keys) a sequence of (path, label) pairs."""
    if isinstance(value, (list, tuple)):
        if not all(isinstance(p, (list, tuple)) and len(p) == 2 for p in value):
            raise UserError(f"{where}: metrics must be a dict or (path, label) pairs")
        value = dict(value)
    metrics = _as_dict(value, "metrics")
    for path, label in metrics.items():
        if not isinstance(path, str) or not re.match(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$", path):
            raise UserError(
                f"{where}: metrics key {path!r} must be a dotted path into test_report.json, "
                f"e.g. 'temperature_scaling.ece'"
            )
        if not isinstance(label, str) or not label:
            raise UserError(f"{where}: metrics[{path!r}] must be a column label (a str)")
    return metrics


def workdir_references(overrides: Mapping[str, Any]) -> dict[str, str]:
    """override key -> the arm named by its ``"{workdir:ARM}"`` value."""
    return {
        key: match.group(1)
        for key, value in overrides.items()
        if isinstance(value, str) and (match := WORKDIR_REFERENCE.match(value))
    }


def arms_in_run_order(spec: ExperimentSpec) -> list[Arm]:
    """The arms with every arm named by another's ``{workdir:ARM}`` before it (file order
    otherwise); a cycle is a ``UserError``."""
    ordered: list[Arm] = []
    visiting: list[str] = []

    def visit(name: str) -> None:
        if any(arm.name == name for arm in ordered):
            return
        if name in visiting:
            cycle = " -> ".join([*visiting[visiting.index(name):], name])
            raise UserError(f"experiment {spec.name}: arms name each other's workdirs ({cycle})")
        visiting.append(name)
        for needed in workdir_references(spec.arms[name].overrides).values():
            visit(needed)
        visiting.pop()
        ordered.append(spec.arms[name])

    for name in spec.arms:
        visit(name)
    return ordered


def _check_references(spec: ExperimentSpec, where: str) -> None:
    for arm in spec.arms.values():
        for key, needed in workdir_references(arm.overrides).items():
            if needed not in spec.arms:
                raise UserError(
                    f"{where}: arm {arm.name}'s {key} names the workdir of unknown arm "
                    f"{needed!r}; arms: {', '.join(spec.arms)}"
                )
    arms_in_run_order(spec)
    for arm in spec.published_values:
        if arm not in spec.arms:
            raise UserError(f"{where}: published.values names unknown arm {arm!r}")
    if spec.rule:
        from mixer_vit.experiment.verdict import rule_references

        for arm, path in rule_references(spec.rule):
            if arm not in spec.arms:
                raise UserError(
                    f"{where}: rule {spec.rule!r} names unknown arm {arm!r}; arms: "
                    f"{', '.join(spec.arms)}"
                )
            if path and path not in spec.metrics:
                raise UserError(
                    f"{where}: rule {spec.rule!r} uses {arm}.{path}, but {path!r} is not a key "
                    f"of metrics; add it there (metrics: {', '.join(spec.metrics) or 'none'})"
                )
    if spec.plot_series == SERIES and not any(arm.series for arm in spec.arms.values()):
        raise UserError(f"{where}: plot_series is 'series' but no arm has a series label")
    for key, known in ((spec.plot_x, ("config", *DERIVED_PLOT_X)),
                       (spec.plot_series, ("config", SERIES))):
        if key and key not in known and not any(key in a.overrides for a in spec.arms.values()):
            raise UserError(
                f"{where}: plot key {key!r} is not an override of any arm (plot_x may also be "
                f"{', '.join(DERIVED_PLOT_X)}; plot_series config or series)"
            )
