"""The active-learning loop (mixer_vit/active/): exact resume after a kill, no example
labelled twice, only pool examples scored and acquired, the learning-curve statistics
against NumPy, the "labels needed" table, the train-on-indices data path, and one-line
errors for bad input. Scoring and selection are a stand-in (tests/active_stand_in.py)."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from absl import flags
from active_stand_in import STAND_IN, score_pool, select
from conftest import DEFAULT_CONFIG, load_default_config

from mixer_vit import data
from mixer_vit.active import labelled_set, learning_curve
from mixer_vit.active.command import define_flags, run_command, split_name, use_compile_cache
from mixer_vit.active.loop import Acquisition
from mixer_vit.errors import UserError

POOL_SIZE = 200
# One 16-wide block on 4x4 patches: tracing and compiling it takes least.
MODEL = dict(patch_size=4, depth=1, embed_dim=16, mixer_kwargs=dict(num_heads=2), mlp_ratio=2.0,
             dropout_rate=0.1, drop_path_rate=0.0)
ACTIVE_CONFIG = """
import ml_collections

def get_config():
    config = ml_collections.ConfigDict()
    config.train = {train!r}
    config.train_overrides = {{
        "data": {{"data_dir": {data_dir!r}, "in_memory": False}},
        "model": {{"overrides": {model!r}}},
        "train": {{"global_batch_size": 16}},
        "optim": {{"warmup": "0"}},
    }}
    config.pool_split = "train"
    config.validation_split = "validation[:64]"
    config.test_split = "test[:96]"
    config.pool_size = {pool_size}
    config.initial_labels = 20
    config.acquire_per_round = 10
    config.label_budget = 40
    config.strategies = ("least_confidence",)
    config.seeds = 1
    config.warm_start = True
    config.epochs_per_round = 1
    config.min_steps_per_round = 2  # every round 2 steps: one compiled train step
    config.target_accuracy = 0.5
    config.score_batch_size = 64
{extra}
    return config
"""


def write_active_config(directory, digits_data_dir, extra: str = "", name="active.py",
                        pool_size=POOL_SIZE) -> str:
    path = os.path.join(directory, name)
    with open(path, "w") as f:
        f.write(ACTIVE_CONFIG.format(
            train=DEFAULT_CONFIG, data_dir=digits_data_dir, pool_size=pool_size,
            model=MODEL, extra=extra,
        ))
    return path


def command_flags(*argv: str) -> flags.FlagValues:
    fv = flags.FlagValues()
    define_flags(fv)
    fv(["mixer-vit", *argv])
    return fv


class Killed(Exception):
    """Stands for the process being killed."""


def killing_acquisition(at_round: int) -> Acquisition:
    """The stand-in, except that selection at round ``at_round`` (after the round trained
    and its pool was scored) kills the loop."""
    calls = {"n": 0}

    def select_or_die(strategy, pool, k, **kwargs):
        if calls["n"] == at_round:
            raise Killed()
        calls["n"] += 1
        return select(strategy, pool, k, **kwargs)

    return Acquisition(STAND_IN.score_pool, select_or_die, STAND_IN.strategies)


def without_time(records):
    return [{k: v for k, v in r.items() if k != "seconds"} for r in records]


@pytest.fixture(scope="module")
def compile_cache(tmp_path_factory):
    """One persistent compilation cache for every loop here (each round compiles the same
    steps); the process's setting is restored afterwards."""
    import jax
    from jax.experimental.compilation_cache import compilation_cache

    before = jax.config.jax_compilation_cache_dir
    use_compile_cache(str(tmp_path_factory.mktemp("compile_cache")))
    yield
    jax.config.update("jax_compilation_cache_dir", before)
    compilation_cache.reset_cache()


@pytest.fixture(scope="module")
def loops(tmp_path_factory, digits_data_dir, compile_cache):
    """An uninterrupted loop (3 rounds: 20, 30, 40 labels, warm-started), and the same
    loop killed during round 1's acquisition and run again."""
    root = tmp_path_factory.mktemp("active")
    config = write_active_config(str(root), digits_data_dir)
    score_pool.calls.clear()
    select.calls.clear()
    whole = str(root / "whole")
    assert run_command(config, command_flags("--workdir", whole), acquisition=STAND_IN) == 0
    calls = {"score": list(score_pool.calls), "select": list(select.calls)}
    resumed = str(root / "resumed")
    with pytest.raises(Killed):
        run_command(config, command_flags("--workdir", resumed),
                    acquisition=killing_acquisition(at_round=1))
    killed_records = labelled_set.read_records(os.path.join(resumed, "least_confidence", "seed_0"))
    half_round_left = os.path.isdir(os.path.join(resumed, "least_confidence", "seed_0", "round_1"))
    assert run_command(config, command_flags("--workdir", resumed), acquisition=STAND_IN) == 0
    return {"config": config, "whole": whole, "resumed": resumed, "calls": calls,
            "killed_records": killed_records, "half_round_left": half_round_left}


def loop_records(workdir: str) -> list[dict]:
    return labelled_set.read_records(os.path.join(workdir, "least_confidence", "seed_0"))


def test_a_killed_loop_resumes_to_the_uninterrupted_record(loops):
    assert len(loops["killed_records"]) == 1 and loops["half_round_left"]
    whole, resumed = loop_records(loops["whole"]), loop_records(loops["resumed"])
    assert [r["labels"] for r in whole] == [20, 30, 40]
    assert without_time(resumed) == without_time(whole)


def test_rounds_warm_start_from_the_previous_round(loops):
    directory = os.path.join(loops["whole"], "least_confidence", "seed_0")
    with open(os.path.join(directory, "round_0", "config.json")) as f:
        assert json.load(f)["model"]["init_from"] == ""
    with open(os.path.join(directory, "round_2", "config.json")) as f:
        assert json.load(f)["model"]["init_from"] == os.path.join(directory, "round_1", "weights")
    # only the newest round keeps its checkpoint
    assert os.path.isdir(os.path.join(directory, "round_2", "checkpoints"))
    assert not os.path.exists(os.path.join(directory, "round_0", "checkpoints"))


def test_each_round_trains_on_exactly_its_labelled_set(loops):
    directory = os.path.join(loops["whole"], "least_confidence", "seed_0")
    records = loop_records(loops["whole"])
    for r in range(len(records)):
        expected = records[0]["seed_set"] if r == 0 else labelled_set.labelled_after(
            records[:r]).tolist()
        with open(os.path.join(directory, f"round_{r}", "labelled.json")) as f:
            assert json.load(f) == expected
        with open(os.path.join(directory, f"round_{r}", "config.json")) as f:
            assert json.load(f)["data"]["train_split"] == "train"


def test_never_labels_an_example_twice_nor_one_outside_the_pool(loops, digits_data_dir):
    records = loop_records(loops["whole"])
    labelled = records[0]["seed_set"] + [i for r in records for i in r["acquired"]]
    assert len(labelled) == len(set(labelled)) == 40
    candidates = labelled_set.pool_candidates(
        data.count_examples("sklearn_digits", "train", digits_data_dir), POOL_SIZE, 0
    )
    assert set(labelled) <= set(candidates.tolist())
    train_labels = np.asarray(
        [int(ex["label"]) for ex in data.open_source("sklearn_digits", "train", digits_data_dir)]
    )
    assert np.bincount(train_labels[records[0]["seed_set"]], minlength=10).tolist() == [2] * 10
    assert [len(r["acquired"]) for r in records] == [10, 10, 0]


def test_scoring_sees_only_pool_images(loops, digits_data_dir):
    """Every scoring call gets the pool candidates' images (unlabelled first, then the
    labelled ones), never a validation or test image; selection picks among the
    unlabelled ones only."""
    records = loop_records(loops["whole"])
    candidates = labelled_set.pool_candidates(
        data.count_examples("sklearn_digits", "train", digits_data_dir), POOL_SIZE, 0
    )
    source = data.open_source("sklearn_digits", "train", digits_data_dir)
    calls = loops["calls"]
    assert len(calls["score"]) == 2
    for r, call in enumerate(calls["score"]):
        labelled = labelled_set.labelled_after(records[:r]) if r else np.asarray(
            records[0]["seed_set"])
        unlabelled = np.setdiff1d(candidates, labelled)
        order = np.concatenate([unlabelled, np.sort(labelled)])
        expected = np.stack([source[int(i)]["image"] for i in order]).astype(np.float32)
        np.testing.assert_allclose(call["images"], (expected / 255.0 - 0.5) / 0.5, atol=1e-6)
        assert call["mc_samples"] == 1
        assert calls["select"][r] == {"strategy": "least_confidence", "n": len(unlabelled),
                                      "k": 10, "labelled": len(labelled)}


def test_results_files(loops):
    with open(os.path.join(loops["whole"], "results.json")) as f:
        results = json.load(f)
    entry = results["strategies"]["least_confidence"]
    records = loop_records(loops["whole"])
    assert [p["labels"] for p in entry["curve"]] == [20, 30, 40]
    assert [p["test_accuracy"]["mean"] for p in entry["curve"]] == [
        r["test_accuracy"] for r in records
    ]
    assert os.path.getsize(os.path.join(loops["whole"], "learning_curve.png")) > 1000
    with open(os.path.join(loops["whole"], "results.md")) as f:
        assert "| labels | least_confidence |" in f.read()


def test_a_loop_refuses_other_settings(loops):
    changed = loops["config"].replace("active.py", "active_changed.py")
    with open(loops["config"]) as f:
        text = f.read().replace("config.acquire_per_round = 10", "config.acquire_per_round = 20")
    with open(changed, "w") as f:
        f.write(text)
    with pytest.raises(UserError, match="acquire_per_round differs"):
        run_command(changed, command_flags("--workdir", loops["whole"]), acquisition=STAND_IN)


# -- the learning curve from round records ----------------------------------------------

def fabricated_records(rng, seeds=3, rounds=5, short_seed=None):
    records = {}
    for seed in range(seeds):
        count = rounds - 2 if seed == short_seed else rounds
        records[seed] = [
            {"round": r, "labels": 20 + 10 * r, "test_accuracy": float(rng.uniform(0.3, 0.9)),
             "validation_accuracy": float(rng.uniform(0.3, 0.9))}
            for r in range(count)
        ]
    return records


def test_curve_mean_and_std_over_seeds_match_numpy():
    records = fabricated_records(np.random.default_rng(0), short_seed=1)
    points = learning_curve.curve(records)
    assert [p["labels"] for p in points] == [20, 30, 40, 50, 60]
    for r, point in enumerate(points):
        for metric in ("test_accuracy", "validation_accuracy"):
            values = [rs[r][metric] for rs in records.values() if len(rs) > r]
            assert point[metric]["n"] == (3 if r < 3 else 2)
            assert point[metric]["mean"] == pytest.approx(np.mean(values), abs=1e-12)
            assert point[metric]["std"] == pytest.approx(np.std(values, ddof=1), abs=1e-12)


def test_labels_needed_to_reach_the_target():
    test = {0: [0.5, 0.7, 0.85, 0.9], 1: [0.6, 0.82, 0.79, 0.95], 2: [0.4, 0.5, 0.6, 0.7]}
    records = {
        seed: [{"labels": 100 * (r + 1), "test_accuracy": a, "validation_accuracy": a - 0.1}
               for r, a in enumerate(accuracies)]
        for seed, accuracies in test.items()
    }
    points = learning_curve.curve(records)
    needed = learning_curve.labels_needed(records, points, target=0.8)
    means = np.mean(list(test.values()), axis=0)  # 0.5, 0.673, 0.747, 0.85
    assert needed["test"]["mean_curve"] == 100 * (int(np.argmax(means >= 0.8)) + 1) == 400
    assert needed["test"]["per_seed"] == {0: 300, 1: 200, 2: None}
    assert needed["validation"]["per_seed"] == {0: 400, 1: 400, 2: None}
    assert needed["validation"]["mean_curve"] is None  # validation means peak at 0.75
    results = learning_curve.build_results(
        {"random": records, "entropy": {1: records[1]}}, target_accuracy=0.8,
        label_schedule=[100, 200, 300, 400], config="c.py", settings={},
    )
    markdown = learning_curve.results_markdown(results)
    assert "| random | not reached | 400 | - | 0: 300, 1: 200, 2: not reached |" in markdown
    assert "| entropy | 400 | 200 | 50% | 1: 200 |" in markdown


# -- the data path: training on an index list ------------------------------------------

def test_a_run_trains_on_the_listed_examples_only(tmp_path, digits_data_dir):
    from mixer_vit.train.plan import plan_run

    indices = [5, 900, 17, 3, 1200, 64, 8, 99, 500, 250, 11, 42, 77, 600, 1000, 2, 33]
    config = load_default_config()
    config.data.data_dir = digits_data_dir
    config.train.global_batch_size = 8
    config.data.train_indices_file = data.write_index_file(str(tmp_path / "i.json"), indices)
    plan = plan_run(config)
    assert plan.steps_per_epoch == len(indices) // 8
    source = data.open_source("sklearn_digits", "train", digits_data_dir)
    subset = plan.open_train_split()
    assert len(subset) == len(indices)
    for position, index in enumerate(indices):
        np.testing.assert_array_equal(subset[position]["image"], source[index]["image"])
    batches = plan.train_batches()
    seen = np.concatenate([next(batches)["label"] for _ in range(plan.steps_per_epoch)])
    expected = [int(source[indices[i]]["label"]) for i in data.epoch_order(0, 0, len(indices))]
    assert seen.tolist() == expected[: len(seen)]


@pytest.mark.parametrize("content, message", [
    (None, "no such file"),
    ("[1, 2,", "is not JSON"),
    ('{"a": 1}', "non-empty list of integers"),
    ("[1, 2, 2]", "repeats an index"),
    ("[0, 1258]", "names example 1258, outside"),
])
def test_bad_index_files(tmp_path, content, message):
    path = tmp_path / "indices.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(UserError, match=message):
        data.read_index_file(str(path), 1258)


def test_acquisition_check():
    candidates = np.arange(0, 100, 2)
    labelled = np.asarray([0, 2, 4])
    labelled_set.check_acquisition(np.asarray([8, 6]), labelled, candidates, 2)
    for acquired, why in (([6, 6], "repeats"), ([2, 6], "labelled already"),
                          ([7, 6], "outside the pool"), ([6], "expected 2")):
        with pytest.raises(AssertionError, match=why):
            labelled_set.check_acquisition(np.asarray(acquired), labelled, candidates, 2)


# -- bad input: one-line errors before anything trains -----------------------------------

@pytest.mark.parametrize("extra, argv, message", [
    ("", ["--strategies", "least_confidence,oracle"], "unknown acquisition strategy 'oracle'"),
    ("    config.label_budget = 10", [], "label_budget 10 is smaller than the seed set"),
    ("    config.pool_size = 30", [], "pool_size 30 is smaller than label_budget 40"),
    ("    config.label_budget = 5000", [], "is smaller than label_budget 5000"),
    ("    config.initial_labels = 12", [], "smaller than one training batch"),
    ("    config.acquire_every = 3", [], "unknown key acquire_every"),
    ("    config.test_split = 'train'", [], "three different splits"),
    ("    config.test_split = 'test[:0]'", [], "selects no examples"),
    ("", ["--seeds", "0"], "--seeds must be >= 1"),
    ("    config.train = 'nowhere.py:vit'", [], "train 'nowhere.py:vit' names no file"),
    ("    config.train_overrides = {'optim': {'learning_rate': 1.0}}", [],
     "unknown config key optim.learning_rate"),
    ("    config.strategies = ('random', 'bald')", [], "bald scores MC-dropout samples"),
])
def test_bad_input_is_a_one_line_error(tmp_path, digits_data_dir, extra, argv, message):
    pool_size = 0 if "5000" in extra else POOL_SIZE
    config = write_active_config(str(tmp_path), digits_data_dir, extra, pool_size=pool_size)
    with pytest.raises(UserError, match=message) as error:
        run_command(config, command_flags("--workdir", str(tmp_path / "w"), *argv),
                    acquisition=STAND_IN)
    assert "\n" not in str(error.value)
    assert not os.path.exists(tmp_path / "w")


def test_mc_dropout_on_a_batchnorm_model_is_refused(tmp_path, digits_data_dir):
    """A BatchNorm ResNet cannot be sampled with MC dropout: refused before training."""
    resnet = os.path.join(os.path.dirname(DEFAULT_CONFIG), "fashion_mnist.py:resnet")
    config = write_active_config(str(tmp_path), digits_data_dir, extra="\n".join([
        f"    config.train = {resnet!r}",
        "    config.train_overrides = {'data': {'name': 'sklearn_digits', 'data_dir': "
        f"{digits_data_dir!r}, 'train_pp': '', 'eval_pp': ''}}, "
        "'train': {'global_batch_size': 16}}",
        "    config.mc_samples = 4",
        "    config.mc_strategies = ('least_confidence',)",
    ]))
    with pytest.raises(UserError, match="cannot run \\(it has BatchNorm\\)"):
        run_command(config, command_flags("--workdir", str(tmp_path / "w")),
                    acquisition=STAND_IN)
    assert not os.path.exists(tmp_path / "w")


def test_missing_config_and_workdir(tmp_path):
    with pytest.raises(UserError, match="active config .*nope.py: no such file"):
        run_command(str(tmp_path / "nope.py"), command_flags("--workdir", str(tmp_path)),
                    acquisition=STAND_IN)
    with pytest.raises(UserError, match="missing CONFIG"):
        run_command(None, command_flags("--workdir", str(tmp_path)), acquisition=STAND_IN)
    with pytest.raises(UserError, match="missing --workdir"):
        run_command("x.py", command_flags(), acquisition=STAND_IN)
    assert split_name(["a.py", "--seeds", "2"]) == ("a.py", ["--seeds", "2"])
    assert split_name(["--seeds", "2"]) == (None, ["--seeds", "2"])


def test_the_loop_uses_the_project_acquisition_functions():
    """Production runs score and select with mixer_vit/active's own functions."""
    pytest.importorskip("mixer_vit.active.acquisition")
    from mixer_vit.active.acquisition import select as project_select
    from mixer_vit.active.loop import default_acquisition
    from mixer_vit.active.pool_outputs import score_pool as project_score_pool

    acquisition = default_acquisition()
    assert acquisition.select is project_select
    assert acquisition.score_pool is project_score_pool
    assert set(acquisition.strategies) == {
        "random", "least_confidence", "margin", "entropy", "bald", "batchbald", "coreset",
        "badge",
    }
