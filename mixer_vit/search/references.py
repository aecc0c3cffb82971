"""Hand-designed reference models trained beside a search, and the verdict on its front.

A search config may set ``references``, ``{label: candidate}``: each candidate in the
space's format (the isotropic dict ``{mixer, depth, width, mlp_ratio, patch_size,
heads}``, or ``{patch_size, stages}`` for a staged space) plus an optional
``mixer_kwargs`` (``{mixer: {key: value}}``, like the space's: an entry replaces the
space's fixed hyper-parameters of that mixer for this reference, e.g. a token-mixing MLP
with ``tokens_mlp_dim`` 160 where the space fixes 64). A reference need not lie in the
space's choices or constraints, but must build: a registered mixer, positive sizes, heads
dividing the width for a mixer with ``num_heads`` (none otherwise), the mixer's required
hyper-parameters given, a patch size that tiles the images (checked once the data set is
known, ``check_reference_patches``); one-line ``UserError`` otherwise, before anything
trains.

Each reference trains exactly like a candidate trained to the end (the search's base
config and ``train_overrides``, the strategy's full epochs, the search's seed) in
``WORKDIR/references/LABEL``, before the search's first trial, its cost measured the same
way. Its record goes to ``WORKDIR/references.jsonl``, never to ``history.jsonl``: no
strategy sees it, and the history is the same with or without references. A finished
reference is not trained again; one changed under the same label is refused.

The verdict (``front_verdict``): with the best candidate ``c`` (the first of results.md's
ranking: most epochs, then validation accuracy) and the references ``R``,

- ``c`` is **behind** the references' front when some reference ``r`` has
  ``gflops(r) <= gflops(c)`` and ``val(r) > val(c)`` (those ``r`` are named);
- otherwise ``c`` is **on or beyond** it (a reference of equal GFLOPs and equal
  accuracy ties with ``c``: on the front);
- ``c`` **dominates** ``r`` when ``gflops(c) <= gflops(r)`` and ``val(c) >= val(r)``,
  strictly better in one of the two.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import re
from collections.abc import Callable, Mapping
from typing import Any

from mixer_vit.errors import UserError

REFERENCES_FILE = "references.jsonl"
REFERENCES_DIR = "references"
LABEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


@dataclasses.dataclass(frozen=True)
class Reference:
    """A hand-designed model: its label (folder name), its candidate in the space's format
    (JSON-like: lists, floats for MLP ratios) and its per-mixer hyper-parameters that
    replace the space's."""

    label: str
    candidate: dict
    mixer_kwargs: dict = dataclasses.field(default_factory=dict)

    def definition(self) -> dict:
        """What the reference is, as recorded in references.jsonl."""
        return {"label": self.label, "candidate": self.candidate,
                "mixer_kwargs": self.mixer_kwargs}


# -- reading and checking --------------------------------------------------------------

def references_from_config(values: Mapping[str, Any], space, where: str
                           ) -> tuple[Reference, ...]:
    """The ``references`` of a search config, checked against what a model of ``space``'s
    kind needs (not against its choices); one-line ``UserError`` otherwise."""
    from mixer_vit.search.staged_space import StagedSearchSpace

    if not isinstance(values, Mapping):
        raise UserError(f"search config {where}: references must be a dict {{label: "
                        f"candidate}}, got {type(values).__name__}")
    staged = isinstance(space, StagedSearchSpace)
    refs = []
    for label, raw in values.items():
        at = f"search config {where}: references.{label}"
        if not isinstance(label, str) or not LABEL.fullmatch(label):
            raise UserError(f"search config {where}: reference label {label!r} is no folder "
                            f"name; use letters, digits, '_', '-' and '.'")
        if not isinstance(raw, Mapping):
            raise UserError(f"{at} must be a dict in the space's candidate format")
        raw = json.loads(json.dumps(dict(raw)))  # tuples -> lists, as the history stores
        kwargs = raw.pop("mixer_kwargs", None) or {}
        if not isinstance(kwargs, Mapping) or not all(isinstance(v, Mapping)
                                                      for v in kwargs.values()):
            raise UserError(f"{at}.mixer_kwargs must be {{mixer: {{key: value}}}}, e.g. "
                            f"{{'mlp': {{'tokens_mlp_dim': 160}}}}")
        _check_known_mixers(kwargs, f"{at}.mixer_kwargs")
        merged = {**space.mixer_kwargs, **kwargs}
        candidate = (_staged_candidate(raw, merged, at) if staged
                     else _isotropic_candidate(raw, merged, at))
        refs.append(Reference(label, candidate, dict(kwargs)))
    return tuple(refs)


def _isotropic_candidate(raw: dict, kwargs: Mapping, at: str) -> dict:
    from mixer_vit.search.space import DIMENSIONS

    if set(raw) != set(DIMENSIONS):
        raise UserError(f"{at} has keys {sorted(raw)}; give exactly {', '.join(DIMENSIONS)} "
                        f"(and optionally mixer_kwargs)")
    _check_block(raw, kwargs, at)
    _check_positive_int(raw["patch_size"], f"{at}.patch_size")
    return {**raw, "mlp_ratio": float(raw["mlp_ratio"])}


def _staged_candidate(raw: dict, kwargs: Mapping, at: str) -> dict:
    from mixer_vit.search.staged_space import STAGE_DIMENSIONS

    if set(raw) != {"patch_size", "stages"}:
        raise UserError(f"{at} has keys {sorted(raw)}; give exactly patch_size and stages "
                        f"(and optionally mixer_kwargs)")
    _check_positive_int(raw["patch_size"], f"{at}.patch_size")
    stages = raw["stages"]
    if not isinstance(stages, list) or not stages:
        raise UserError(f"{at}.stages must be a non-empty list of stage dicts")
    for s, block in enumerate(stages):
        if not isinstance(block, Mapping) or set(block) != set(STAGE_DIMENSIONS):
            raise UserError(f"{at}.stages[{s}] must have exactly the keys "
                            f"{', '.join(STAGE_DIMENSIONS)}")
        _check_block(block, kwargs, f"{at}.stages[{s}]")
    return {"patch_size": raw["patch_size"],
            "stages": [{**b, "mlp_ratio": float(b["mlp_ratio"])} for b in stages]}


def _check_block(block: Mapping, kwargs: Mapping, at: str) -> None:
    """One block's mixer, depth, width, MLP ratio and heads, and its mixer's kwargs."""
    from mixer_vit.search.space import takes_heads

    _check_known_mixers({block["mixer"]: None}, f"{at}.mixer")
    for key in ("depth", "width"):
        _check_positive_int(block[key], f"{at}.{key}")
    ratio = block["mlp_ratio"]
    if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or ratio <= 0:
        raise UserError(f"{at}.mlp_ratio {ratio!r} is not a positive number")
    mixer, heads, width = block["mixer"], block["heads"], block["width"]
    if takes_heads(mixer):
        if isinstance(heads, bool) or not isinstance(heads, int) or heads < 1 or width % heads:
            raise UserError(f"{at}: mixer {mixer} needs heads, a positive integer dividing "
                            f"width {width}; got {heads!r}")
    elif heads is not None:
        raise UserError(f"{at}: mixer {mixer} takes no heads; set heads None")
    _check_mixer_kwargs(mixer, kwargs.get(mixer, {}), at)


def _check_mixer_kwargs(mixer: str, given: Mapping, at: str) -> None:
    from mixer_vit.search.space import HEADS_FIELD, _mixer_fields

    fields = _mixer_fields(mixer)
    names = {f.name for f in fields} - {HEADS_FIELD}
    bad = sorted(set(given) - names)
    if bad:
        raise UserError(f"{at}: mixer {mixer} does not take {bad[0]} (num_heads comes from "
                        f"heads); fix mixer_kwargs.{mixer}")
    required = [f.name for f in fields
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
                and f.name not in (HEADS_FIELD, "dtype") and f.name not in given]
    if required:
        raise UserError(f"{at}: mixer {mixer} needs {required[0]}; give the reference "
                        f"mixer_kwargs = {{'{mixer}': {{'{required[0]}': ...}}}}")


def _check_known_mixers(mixers: Mapping, at: str) -> None:
    from mixer_vit.layers.mixers import list_mixers

    for mixer in mixers:
        if mixer not in list_mixers():
            raise UserError(f"{at}: unknown token mixer {mixer!r}; registered mixers: "
                            f"{', '.join(list_mixers())}")


def _check_positive_int(value: Any, at: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise UserError(f"{at} {value!r} is not a positive integer")


def check_reference_patches(settings, base) -> None:
    """``UserError`` for a reference whose patch size does not tile the base config's
    images (the space's own rule, candidate_training.check_patch_sizes)."""
    from mixer_vit.search.candidate_training import model_and_shape

    if not settings.references:
        return
    _, (height, width, _) = model_and_shape(base)
    for ref in settings.references:
        patch = ref.candidate["patch_size"]
        if height % patch or width % patch:
            raise UserError(f"search config: references.{ref.label}.patch_size {patch} does "
                            f"not divide the {height}x{width} images of {base.data.name}; use "
                            f"a divisor of {height}")


# -- training --------------------------------------------------------------------------

def reference_settings(settings, ref: Reference):
    """The search's settings whose space fixes the reference's mixer hyper-parameters:
    the candidate config, cost and training of the reference are a candidate's under them."""
    space = dataclasses.replace(settings.space,
                                mixer_kwargs={**settings.space.mixer_kwargs, **ref.mixer_kwargs})
    return dataclasses.replace(settings, space=space)


def reference_trainer(base, settings, workdir: str) -> Callable[[Reference], dict]:
    """``train(ref) -> {"validation_accuracy", "test_accuracy"}``: trains the reference
    to the strategy's full epochs in ``workdir/references/LABEL`` (resuming its checkpoint)."""
    from mixer_vit.search.candidate_training import candidate_config, train_candidate

    def train(ref: Reference) -> dict:
        config = candidate_config(base, reference_settings(settings, ref), ref.candidate)
        return train_candidate(config, os.path.join(workdir, REFERENCES_DIR, ref.label),
                               settings.full_epochs, final=True)

    return train


def reference_cost_function(base, settings) -> Callable[[Reference], dict]:
    """``measure(ref) -> {"params", "gflops"[, "latency_ms"]}``, as a candidate's."""
    from mixer_vit.search.candidate_training import cost_function

    return lambda ref: cost_function(base, reference_settings(settings, ref))(ref.candidate)


def describe(space, ref: Reference) -> str:
    """The reference as the space names a candidate, plus the mixer hyper-parameters it
    sets itself: ``mlp-d4-w64-r4-p4 (mlp tokens_mlp_dim=160)``."""
    extra = "; ".join(f"{m} " + ", ".join(f"{k}={v}" for k, v in kw.items())
                      for m, kw in ref.mixer_kwargs.items() if kw)
    return space.name(ref.candidate) + (f" ({extra})" if extra else "")


def read_references(workdir: str) -> list[dict]:
    path = os.path.join(workdir, REFERENCES_FILE)
    if not os.path.isfile(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def run_references(settings, workdir: str, train: Callable[[Reference], dict],
                   measure: Callable[[Reference], dict], *,
                   on_record: Callable[[dict], None] = lambda record: None) -> list[dict]:
    """Trains every reference of ``settings`` not yet in ``workdir/references.jsonl``
    (costs of all of them measured first, so a reference that does not build fails before
    any trains) and appends its record; returns the records, in the config's order.

    A record: ``{"label", "candidate", "mixer_kwargs", "description", "epochs", "params",
    "gflops"[, "latency_ms"], "validation_accuracy", "test_accuracy"}``."""
    done = {r["label"]: r for r in read_references(workdir)}
    for ref in settings.references:
        kept = done.get(ref.label)
        if kept is not None and {k: kept[k] for k in ref.definition()} != json.loads(
                json.dumps(ref.definition())):
            raise UserError(f"{workdir} holds a reference {ref.label} trained as another "
                            f"model; rename the reference or use a new --workdir")
    todo = [ref for ref in settings.references if ref.label not in done]
    costs = {ref.label: dict(measure(ref)) for ref in todo}
    for ref in todo:
        result = train(ref)
        record = {
            **copy.deepcopy(ref.definition()),
            "description": describe(settings.space, ref),
            "epochs": settings.full_epochs,
            **costs[ref.label],
            "validation_accuracy": float(result["validation_accuracy"]),
            "test_accuracy": (None if result.get("test_accuracy") is None
                              else float(result["test_accuracy"])),
        }
        with open(os.path.join(workdir, REFERENCES_FILE), "a") as f:
            f.write(json.dumps(record) + "\n")
        done[ref.label] = record
        on_record(record)
    return [done[ref.label] for ref in settings.references]


# -- the verdict -----------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Verdict:
    """Where a candidate stands against the references (module doc): ``ahead`` are the
    labels of the references with at most its GFLOPs and a higher validation accuracy
    (empty: on or beyond the front), ``dominated`` those it dominates."""

    ahead: tuple[str, ...]
    dominated: tuple[str, ...]

    @property
    def on_or_beyond(self) -> bool:
        return not self.ahead


def front_verdict(candidate: Mapping[str, Any], references: list[Mapping[str, Any]]
                  ) -> Verdict:
    """``candidate`` and ``references`` carry ``gflops`` and ``validation_accuracy`` (and
    ``label`` for the references)."""
    g, v = candidate["gflops"], candidate["validation_accuracy"]
    ahead = tuple(r["label"] for r in references
                  if r["gflops"] <= g and r["validation_accuracy"] > v)
    dominated = tuple(r["label"] for r in references
                      if g <= r["gflops"] and v >= r["validation_accuracy"]
                      and (g < r["gflops"] or v > r["validation_accuracy"]))
    return Verdict(ahead, dominated)


def verdict_line(best: Mapping[str, Any] | None, references: list[Mapping[str, Any]]) -> str:
    """The plain-words verdict of results.md on ``best`` (a history record, or None)."""
    if best is None or not references:
        return "Verdict: none yet (no candidate or no reference has finished)."
    verdict = front_verdict(best, references)
    who = (f"the best candidate, {best['name']} ({100 * best['validation_accuracy']:.1f}% "
           f"validation accuracy at {best['gflops']:.4g} GFLOPs),")
    if not verdict.on_or_beyond:
        return (f"Verdict: {who} is behind the references' front (a higher validation "
                f"accuracy at no more GFLOPs: {', '.join(verdict.ahead)}).")
    dominated = ", ".join(verdict.dominated) or "none of them"
    return (f"Verdict: {who} is on or beyond the references' front: no reference reaches "
            f"a higher validation accuracy at no more GFLOPs. It dominates {dominated}.")
