"""Hand-designed references beside a search (mixer_vit/search/references.py): checked
before anything trains, trained once before the trials and never seen by the strategy
(the history is the same without them), skipped on resume; the verdict rule on a
hand-worked example; and a real tiny digits search with one reference, end to end."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from conftest import REPO
from mixer_vit.errors import UserError
from mixer_vit.search.references import front_verdict, references_from_config, verdict_line
from mixer_vit.search.space import space_from_config
from search_fakes import SPACE, Killed, fake_cost, fake_evaluate, fake_fitness
from test_search_digits import run_search_command

CONFIGS = os.path.join(REPO, "experiments", "configs")

REFERENCES = {
    # outside the space's choices (depth 6, width 48, ratio 3) on purpose
    "attn": {"mixer": "attention", "depth": 6, "width": 48, "mlp_ratio": 3, "patch_size": 4,
             "heads": 3},
    "mlp160": {"mixer": "mlp", "depth": 2, "width": 16, "mlp_ratio": 2.0, "patch_size": 2,
               "heads": None, "mixer_kwargs": {"mlp": {"tokens_mlp_dim": 160}}},
    "pool": {"mixer": "pooling", "depth": 1, "width": 16, "mlp_ratio": 1.0, "patch_size": 4,
             "heads": None},
}

STAGED_SPACE = {"stages": 2, "mixer": ("pooling", "attention"), "depth": (1,),
                "width": ((8,), (16,)), "mlp_ratio": (1.0,), "patch_size": (2,), "heads": (2,)}


# -- checks ----------------------------------------------------------------------------

def _iso(**changes):
    return {"r": {**REFERENCES["pool"], **changes}}


@pytest.mark.parametrize("refs, match", [
    (_iso(mixer="pool"), "references.r.mixer: unknown token mixer 'pool'"),
    (_iso(mixer="attention", heads=None), "mixer attention needs heads, a positive integer "
     "dividing width 16; got None"),
    (_iso(mixer="attention", heads=3), "dividing width 16; got 3"),
    (_iso(heads=2), "mixer pooling takes no heads; set heads None"),
    (_iso(depth=0), "references.r.depth 0 is not a positive integer"),
    (_iso(mlp_ratio=-1.0), "references.r.mlp_ratio -1.0 is not a positive number"),
    (_iso(patch_size=2.5), "references.r.patch_size 2.5 is not a positive integer"),
    (_iso(stem=3), "references.r has keys .*give exactly mixer, depth"),
    (_iso(mixer="mlp", mixer_kwargs={"mlp": {}}), "mixer mlp needs tokens_mlp_dim"),
    (_iso(mixer_kwargs={"pooling": {"kernel": 3}}), "mixer pooling does not take kernel"),
    (_iso(mixer_kwargs={"poolingg": {}}), "unknown token mixer 'poolingg'"),
    ({"a/b": REFERENCES["pool"]}, "reference label 'a/b' is no folder name"),
])
def test_bad_references_are_one_line_errors(refs, match):
    with pytest.raises(UserError, match=match) as error:
        references_from_config(refs, space_from_config(SPACE, "test"), "test")
    assert "\n" not in str(error.value)


def test_references_outside_the_space_are_accepted_and_normalised():
    space = space_from_config(SPACE, "test")
    refs = references_from_config(REFERENCES, space, "test")
    assert [r.label for r in refs] == ["attn", "mlp160", "pool"]
    assert refs[0].candidate["mlp_ratio"] == 3.0 and isinstance(refs[0].candidate["mlp_ratio"],
                                                                float)
    assert space.invalid_reason(refs[0].candidate) is not None  # not one of the choices
    # the reference's mixer_kwargs replace the space's for that mixer (64 -> 160), only there
    from mixer_vit.config_file import load_config_file
    from mixer_vit.search.candidate_training import candidate_config
    from mixer_vit.search.references import reference_settings
    from search_fakes import settings

    s = settings()
    base = load_config_file(os.path.join(CONFIGS, "digits_mixer.py:identity"))
    config = candidate_config(base, reference_settings(s, refs[1]), refs[1].candidate)
    assert config.model.overrides.mixer_kwargs.to_dict() == {"tokens_mlp_dim": 160}
    assert config.model.overrides.depth == 2 and config.train.num_epochs == s.full_epochs
    assert s.space.mixer_kwargs == {"mlp": {"tokens_mlp_dim": 8}}


def test_staged_references_are_checked_per_stage():
    space = space_from_config(STAGED_SPACE, "test")
    stage = {"mixer": "attention", "depth": 3, "width": 24, "mlp_ratio": 2.0, "heads": 4}
    ok = {"p": {"patch_size": 4, "stages": [dict(stage, mixer="pooling", heads=None),
                                            stage, stage]}}
    (ref,) = references_from_config(ok, space, "test")
    assert space.name(ref.candidate) == ("p4-pooling.d3.w24.r2-attention.d3.w24.r2.h4-"
                                         "attention.d3.w24.r2.h4")
    bad = {"p": {"patch_size": 4, "stages": [stage, dict(stage, heads=5)]}}
    with pytest.raises(UserError, match=r"references.p.stages\[1\]: mixer attention needs "
                                        r"heads"):
        references_from_config(bad, space, "test")
    with pytest.raises(UserError, match="give exactly patch_size and stages"):
        references_from_config({"p": REFERENCES["pool"]}, space, "test")


# -- the verdict -----------------------------------------------------------------------

def test_verdict_rule_on_a_hand_worked_example():
    refs = [{"label": "A", "gflops": 1.0, "validation_accuracy": 0.80},
            {"label": "B", "gflops": 2.0, "validation_accuracy": 0.85},
            {"label": "C", "gflops": 4.0, "validation_accuracy": 0.90},
            {"label": "D", "gflops": 3.0, "validation_accuracy": 0.85}]

    def at(g, v):
        return {"name": "cand", "gflops": g, "validation_accuracy": v}

    # B has no more FLOPs (2.0 <= 2.0) and a higher accuracy (0.85 > 0.82): behind
    behind = front_verdict(at(2.0, 0.82), refs)
    assert behind.ahead == ("B",) and not behind.on_or_beyond and behind.dominated == ()
    # fewer FLOPs than B, D, C; more accuracy than A, B, D: nothing ahead; dominates B, D
    beyond = front_verdict(at(1.5, 0.86), refs)
    assert beyond.on_or_beyond and beyond.dominated == ("B", "D")
    # equal to B in both: a tie is on the front, and dominates only D (same accuracy,
    # fewer FLOPs), not B
    tie = front_verdict(at(2.0, 0.85), refs)
    assert tie.on_or_beyond and tie.ahead == () and tie.dominated == ("D",)
    # fewer FLOPs than every reference: on the front however low its accuracy
    cheap = front_verdict(at(0.5, 0.10), refs)
    assert cheap.on_or_beyond and cheap.dominated == ()
    # more FLOPs than all, less accuracy than A: A, B, D and C are all ahead
    assert front_verdict(at(5.0, 0.70), refs).ahead == ("A", "B", "C", "D")

    line = verdict_line(at(2.0, 0.82), refs)
    assert "behind the references' front" in line and line.endswith(": B).")
    line = verdict_line(at(1.5, 0.86), refs)
    assert "is on or beyond the references' front" in line and "dominates B, D." in line
    assert "none yet" in verdict_line(None, refs)


# -- with fake training: references beside the search, never in its history ----------

def write_fake_config(path, references=None):
    refs = f"    c.references = {references!r}\n" if references else ""
    path.write_text(f'''
import ml_collections

def get_config():
    c = ml_collections.ConfigDict()
    c.train = {os.path.join(CONFIGS, "digits_mixer.py:identity")!r}
    c.space = {SPACE!r}
    c.constraints = {{"max_params": 6000}}
    c.strategy = "regularized_evolution"
    c.evolution = {{"population": 4, "sample_size": 2}}
    c.epochs = 2
    c.budget = 8
    c.seed = 0
{refs}    return c
''')
    return str(path)


class FakeRun:
    """Fake training of candidates and references, logging what trained, in order."""

    def __init__(self, die_at_reference=None):
        self.events, self.die_at = [], die_at_reference

    def evaluate(self, trial, name):
        self.events.append(("trial", name))
        return fake_evaluate(trial, name)

    def train_reference(self, ref):
        if self.die_at == ref.label:
            raise Killed
        self.events.append(("reference", ref.label))
        value = fake_fitness(ref.candidate) - 0.05
        return {"validation_accuracy": value, "test_accuracy": value - 0.02}

    def run(self, config, workdir):
        from absl import flags

        from mixer_vit.search.command import define_flags, run_command

        fv = flags.FlagValues()
        define_flags(fv)
        fv(["search", f"--workdir={workdir}"])
        return run_command(config, fv, evaluate=self.evaluate, measure_cost=fake_cost,
                           train_reference=self.train_reference,
                           measure_reference=lambda ref: fake_cost(ref.candidate))


def _read(workdir, name):
    with open(os.path.join(workdir, name)) as f:
        return f.read()


@pytest.fixture(scope="module")
def fake_searches(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fake")
    plain, with_refs = str(tmp / "plain"), str(tmp / "refs")
    first = FakeRun()
    assert first.run(write_fake_config(tmp / "plain.py"), plain) == 0
    second = FakeRun()
    config = write_fake_config(tmp / "refs.py", REFERENCES)
    assert second.run(config, with_refs) == 0
    return tmp, config, plain, with_refs, first, second


def test_history_is_identical_with_and_without_references(fake_searches):
    from mixer_vit.search.history import read_history

    _, _, plain, with_refs, first, second = fake_searches
    history = read_history(plain)
    assert len(history) == 8 and read_history(with_refs) == history
    for name in ("history.jsonl", "costs.jsonl", "search.json"):
        assert _read(with_refs, name) == _read(plain, name)
    # the references trained first, once each, then exactly the plain search's trials
    assert second.events[:3] == [("reference", label) for label in REFERENCES]
    assert second.events[3:] == first.events
    assert not os.path.exists(os.path.join(plain, "references.jsonl"))


def test_reference_records_results_and_verdict(fake_searches):
    from mixer_vit.search.candidates_table import ranked
    from mixer_vit.search.history import read_history
    from mixer_vit.search.references import read_references

    _, _, _, with_refs, _, _ = fake_searches
    records = read_references(with_refs)
    assert [r["label"] for r in records] == list(REFERENCES)
    mlp = records[1]
    assert mlp["description"] == "mlp-d2-w16-r2-p2 (mlp tokens_mlp_dim=160)"
    assert mlp["mixer_kwargs"] == {"mlp": {"tokens_mlp_dim": 160}} and mlp["epochs"] == 2
    for r in records:
        cost = fake_cost(r["candidate"])
        assert (r["params"], r["gflops"]) == (cost["params"], cost["gflops"])
        assert r["validation_accuracy"] == pytest.approx(fake_fitness(r["candidate"]) - 0.05)
    results = _read(with_refs, "results.md")
    assert "## Hand-designed references" in results
    assert f"| mlp160 | {mlp['description']} | {mlp['params']:,} |" in results
    best = ranked(read_history(with_refs))[0]
    assert verdict_line(best, records) in results
    # attn (depth 6, width 48) is more accurate than every candidate of the 6000-param
    # space but at more FLOPs; mlp160 and pool, cheaper than the best, are less accurate
    assert front_verdict(best, records).ahead == ()
    assert "## Hand-designed references" not in _read(fake_searches[2], "results.md")


def test_rerun_skips_finished_references_and_a_killed_one_resumes(fake_searches):
    from mixer_vit.search.history import read_history
    from mixer_vit.search.references import read_references

    tmp, config, plain, with_refs, _, _ = fake_searches
    again = FakeRun()
    assert again.run(config, with_refs) == 0
    assert again.events == []  # nothing trained: references and trials all recorded

    # killed while training the second reference: the first stays, the rest train on rerun
    killed = str(tmp / "killed")
    dying = FakeRun(die_at_reference="mlp160")
    with pytest.raises(Killed):
        dying.run(config, killed)
    assert dying.events == [("reference", "attn")] and read_history(killed) == []
    rerun = FakeRun()
    assert rerun.run(config, killed) == 0
    assert rerun.events[:2] == [("reference", "mlp160"), ("reference", "pool")]
    assert read_references(killed) == read_references(with_refs)
    assert read_history(killed) == read_history(with_refs)

    # a finished search without references gains them: trained, no trial again
    late = FakeRun()
    shutil.copytree(plain, str(tmp / "late"))
    assert late.run(config, str(tmp / "late")) == 0
    assert late.events == [("reference", label) for label in REFERENCES]

    # a reference changed under a trained label is refused before anything trains
    changed = dict(REFERENCES, pool={**REFERENCES["pool"], "depth": 2})
    other = FakeRun()
    with pytest.raises(UserError, match="holds a reference pool trained as another model"):
        other.run(write_fake_config(tmp / "changed.py", changed), with_refs)
    assert other.events == []


# -- a real tiny search on digits ------------------------------------------------------

def write_digits_config(path, data_dir, references):
    path.write_text(f'''
import ml_collections

def get_config():
    c = ml_collections.ConfigDict()
    c.train = {os.path.join(CONFIGS, "digits_mixer.py:identity")!r}
    c.train_overrides = {{"data": {{"data_dir": {data_dir!r}}},
                          "train": {{"global_batch_size": 64, "log_every_steps": 10}},
                          "optim": {{"warmup": "1ep"}}}}
    c.space = {{"mixer": ("identity",), "depth": (1,), "width": (16,), "mlp_ratio": (1.0,),
               "patch_size": (4,)}}
    c.strategy = "random_search"
    c.epochs = 1
    c.budget = 1
    c.seed = 0
    c.references = {references!r}
    return c
''')
    return str(path)


DIGITS_REFERENCE = {"pool_d2": {"mixer": "pooling", "depth": 2, "width": 16,
                                "mlp_ratio": 2.0, "patch_size": 4, "heads": None}}


def test_real_digits_search_with_a_reference(digits_data_dir, tmp_path):
    from mixer_vit.bench.flops import param_count
    from mixer_vit.config_file import load_config_file
    from mixer_vit.search.candidate_training import model_and_shape
    from mixer_vit.search.history import read_history
    from mixer_vit.search.references import read_references

    bad = dict(DIGITS_REFERENCE, odd={**DIGITS_REFERENCE["pool_d2"], "patch_size": 3})
    with pytest.raises(UserError, match="references.odd.patch_size 3 does not divide the "
                                        "8x8 images"):
        run_search_command(write_digits_config(tmp_path / "bad.py", digits_data_dir, bad),
                           str(tmp_path / "bad"))
    assert not os.path.exists(tmp_path / "bad")  # refused before anything was written

    config = write_digits_config(tmp_path / "search.py", digits_data_dir, DIGITS_REFERENCE)
    workdir = str(tmp_path / "work")
    assert run_search_command(config, workdir) == 0
    (record,) = read_references(workdir)
    run_dir = os.path.join(workdir, "references", "pool_d2")
    with open(os.path.join(run_dir, "test_report.json")) as f:
        assert record["test_accuracy"] == pytest.approx(json.load(f)["top1"])
    assert 0.0 <= record["validation_accuracy"] <= 1.0 and record["epochs"] == 1
    # its cost is the model the reference describes, built here from the base config
    base = load_config_file(os.path.join(CONFIGS, "digits_mixer.py:identity"))
    base.data.data_dir = digits_data_dir
    base.model.overrides.update(dict(mixer="pooling", depth=2, embed_dim=16, mlp_ratio=2.0,
                                     patch_size=4, mixer_kwargs={}))
    model, shape = model_and_shape(base)
    assert record["params"] == param_count(model, shape)
    history = read_history(workdir)
    assert len(history) == 1 and not os.path.exists(os.path.join(workdir, "references",
                                                                 history[0]["name"]))
    results = _read(workdir, "results.md")
    assert "| pool_d2 | pooling-d2-w16-r2-p4 |" in results and "Verdict: the best" in results
    assert os.path.getsize(os.path.join(workdir, "pareto.png")) > 5000


# -- the Fashion-MNIST searches' references ------------------------------------------------

def test_fashion_mnist_references_are_the_token_mixers_models():
    """Each reference's model equals the token_mixers arm of the same name, built the
    experiment's way (its config argument, base overrides, then the arm's overrides)."""
    from mixer_vit.config_file import load_config_file
    from mixer_vit.search.candidate_training import candidate_config
    from mixer_vit.search.references import reference_settings
    from mixer_vit.search.settings import load_settings

    experiment = load_config_file(os.path.join(REPO, "experiments", "token_mixers.py"))
    s = load_settings(os.path.join(REPO, "experiments", "search", "fashion_mnist.py"))
    refs = {r.label: r for r in s.references}
    assert sorted(refs) == sorted(experiment.arms)
    base = load_config_file(os.path.join(CONFIGS, "digits_mixer.py:identity"))
    fields = ("mixer", "mixer_kwargs", "depth", "embed_dim", "mlp_ratio", "patch_size")
    for arm, change in experiment.arms.items():
        spec = change.get("config", experiment.base_config)
        expected = load_config_file(os.path.join(CONFIGS, spec)).model.overrides
        expected.update(experiment.base_overrides.model.overrides)
        if "model" in change:
            expected.update(change.model.overrides)
        ref = refs[arm]
        got = candidate_config(base, reference_settings(s, ref), ref.candidate).model.overrides
        assert {f: got[f] for f in fields} == {f: expected[f] for f in fields}, arm

    staged = load_settings(os.path.join(REPO, "experiments", "search",
                                        "fashion_mnist_staged.py"))
    assert [r.label for r in staged.references] == ["attention", "conv_attention",
                                                    "poolformer"]
    assert all(staged.space.invalid_reason(r.candidate) is None for r in staged.references)
