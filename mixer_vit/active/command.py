"""``mixer-vit active CONFIG --workdir DIR [--strategies a,b] [--seeds N]`` (cli.py only
dispatches here).

Runs every strategy x seed loop of the active config (``experiments/active/*.py``,
mixer_vit/active/settings.py) in ``DIR/STRATEGY/seed_S`` (loop.py), seeds outermost so
that every strategy has a first seed early, with one progress bar over all rounds; after
each finished loop, and at the end, writes ``DIR/results.json``, ``DIR/results.md`` and
``DIR/learning_curve.png`` from the round records. Rerunning the command resumes every
loop where it stopped and only rewrites the results of finished ones.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence

from absl import flags

from mixer_vit.errors import UserError

EXAMPLE = "e.g. mixer-vit active experiments/active/digits.py --workdir workdirs/active_digits"
COMPILE_CACHE_DIR = "compile_cache"  # under the workdir: every round compiles the same steps


def define_flags(fv: flags.FlagValues) -> None:
    flags.DEFINE_string(
        "workdir", None, "Folder of the loops (DIR/STRATEGY/seed_S) and results.", flag_values=fv
    )
    flags.DEFINE_list(
        "strategies", None, "Strategies to run, comma-separated (default: the config's).",
        flag_values=fv,
    )
    flags.DEFINE_integer(
        "seeds", None, "Seeds per strategy, 0..N-1 (default: the config's).", flag_values=fv
    )


def split_name(argv: Sequence[str]) -> tuple[str | None, list[str]]:
    """``CONFIG --flags...`` -> (CONFIG, flags); CONFIG None when the first argument is a
    flag."""
    if argv and not argv[0].startswith("-"):
        return argv[0], list(argv[1:])
    return None, list(argv)


def run_command(config_path: str | None, fv: flags.FlagValues, *, acquisition=None) -> int:
    """Runs the loops and writes the results; ``acquisition`` replaces the project's
    scoring and selection (``loop.Acquisition``; tests)."""
    from mixer_vit.active import settings as active_settings
    from mixer_vit.active.loop import default_acquisition

    if not config_path:
        raise UserError(f"missing CONFIG, the active-learning config file; {EXAMPLE}")
    if not fv.workdir:
        raise UserError(f"missing --workdir; {EXAMPLE}")
    if not os.path.isfile(config_path):
        raise UserError(f"active config {config_path}: no such file; {EXAMPLE}")
    if os.path.exists(fv.workdir) and not os.path.isdir(fv.workdir):
        raise UserError(f"--workdir {fv.workdir} is a file; give a directory (created if missing)")
    settings = active_settings.load_settings(config_path)
    settings = active_settings.with_strategies_and_seeds(
        settings, tuple(fv.strategies) if fv.strategies else None, fv.seeds
    )
    acquisition = acquisition or default_acquisition()
    active_settings.check_strategies(settings.strategies, acquisition.strategies)
    base_config = active_settings.train_config(settings)
    pool_split_size = check_data(settings, base_config)
    run_loops(settings, base_config, config_path, fv.workdir, acquisition, pool_split_size)
    return 0


def check_data(settings, base_config) -> int:
    """The pool, validation and test splits exist (the data set is prepared), the pool
    holds the label budget and the seed set fills a training batch; returns the pool
    split's size. One-line ``UserError`` otherwise, before anything trains."""
    from mixer_vit import data

    data_dir = base_config.data.data_dir or data.default_data_dir()
    name = base_config.data.name
    data.ensure_prepared(name, data_dir)
    sizes = {
        split: data.count_examples(name, split, data_dir)
        for split in (settings.pool_split, settings.validation_split, settings.test_split)
    }
    pool = sizes[settings.pool_split]
    if settings.pool_size and settings.pool_size > pool:
        raise UserError(
            f"pool_size {settings.pool_size} exceeds the {pool} examples of pool split "
            f"{settings.pool_split!r}; lower pool_size (0: the whole split)"
        )
    if (settings.pool_size or pool) < settings.label_budget:
        raise UserError(
            f"the pool ({settings.pool_size or pool} examples of {settings.pool_split!r}) is "
            f"smaller than label_budget {settings.label_budget}; lower label_budget or use "
            f"a larger pool split"
        )
    batch = int(base_config.train.global_batch_size)
    if settings.initial_labels < batch:
        raise UserError(
            f"initial_labels {settings.initial_labels} is smaller than one training batch "
            f"(train.global_batch_size {batch}); raise initial_labels or lower the batch "
            f"size in train_overrides"
        )
    _check_mc_dropout(settings, base_config, data_dir)
    return pool


def _check_mc_dropout(settings, base_config, data_dir: str) -> None:
    """MC-dropout scoring runs the model in train mode, which a model with BatchNorm
    cannot do without using batch statistics: refused before any round trains."""
    sampled = [s for s in settings.strategies if settings.mc_samples_for(s) > 1]
    if not sampled:
        return
    import jax
    import jax.numpy as jnp

    from mixer_vit import data
    from mixer_vit.train.plan import input_shape
    from mixer_vit.train.run_model import build_model

    info = data.data_info(base_config.data.name, data_dir)
    model = build_model(base_config, info.num_classes)
    shape = input_shape(base_config, data_dir, info.image_shape)
    variables = jax.eval_shape(
        lambda x: model.init(jax.random.PRNGKey(0), x, train=False),
        jax.ShapeDtypeStruct((1, *shape), jnp.float32),
    )
    if "batch_stats" in variables:
        raise UserError(
            f"{sampled[0]} scores the pool with mc_samples={settings.mc_samples} MC-dropout "
            f"passes, which {base_config.model.name} cannot run (it has BatchNorm); use a "
            f"model with dropout and no BatchNorm (ViT, Mixer) or mc_samples=1"
        )


def run_loops(settings, base_config, config_path, workdir, acquisition, pool_split_size):
    """Every strategy x seed loop, seeds outermost, each pool loaded once per seed."""
    from tqdm import tqdm

    from mixer_vit import data
    from mixer_vit.active import labelled_set
    from mixer_vit.active.loop import loop_dir, run_loop
    from mixer_vit.active.pool_data import PoolData

    os.makedirs(workdir, exist_ok=True)
    schedule = settings.label_schedule()
    pairs = [(seed, s) for seed in range(settings.seeds) for s in settings.strategies]
    done = sum(
        len(labelled_set.read_records(loop_dir(workdir, s, seed))) for seed, s in pairs
    )
    import jax

    if done < len(pairs) * len(schedule) and not jax.config.jax_compilation_cache_dir:
        use_compile_cache(os.path.join(workdir, COMPILE_CACHE_DIR))  # unless the user set one
    bar = tqdm(total=len(pairs) * len(schedule), initial=done, desc="active rounds",
               unit="round", dynamic_ncols=True)
    data_dir = base_config.data.data_dir or data.default_data_dir()
    source = data.open_source(base_config.data.name, settings.pool_split, data_dir)
    try:
        for seed in range(settings.seeds):
            pool = None
            for strategy in settings.strategies:
                directory = loop_dir(workdir, strategy, seed)
                if len(labelled_set.read_records(directory)) == len(schedule):
                    continue
                if pool is None:
                    candidates = labelled_set.pool_candidates(
                        pool_split_size, settings.pool_size, seed
                    )
                    pool = PoolData(source, candidates)

                def progress(record, strategy=strategy, seed=seed):
                    bar.set_postfix_str(
                        f"{strategy} seed {seed}: {record['labels']} labels, test "
                        f"{record['test_accuracy']:.3f}"
                    )
                    bar.update(1)

                run_loop(settings, base_config, strategy, seed, directory, pool, acquisition,
                         on_round=progress)
                write_results(settings, config_path, workdir)
    finally:
        bar.close()
    path = write_results(settings, config_path, workdir)
    print(f"active learning: {len(pairs)} loops finished; results in {path}")


def write_results(settings, config_path: str, workdir: str) -> str:
    """results.json, results.md and learning_curve.png of every loop in ``workdir`` that
    the settings name; returns the results.md path."""
    import dataclasses

    from mixer_vit.active import labelled_set, learning_curve
    from mixer_vit.active.curve_plot import PLOT_FILE, plot_learning_curves
    from mixer_vit.active.loop import loop_dir

    records = {
        strategy: {
            seed: labelled_set.read_records(loop_dir(workdir, strategy, seed))
            for seed in range(settings.seeds)
        }
        for strategy in settings.strategies
    }
    shown = {k: v for k, v in dataclasses.asdict(settings).items() if k != "config_dir"}
    results = learning_curve.build_results(
        records,
        target_accuracy=float(settings.target_accuracy),
        label_schedule=settings.label_schedule(),
        config=config_path,
        settings=json.loads(json.dumps(shown, default=list)),
    )
    with open(os.path.join(workdir, "results.json"), "w") as f:
        json.dump(results, f, indent=1)
    path = os.path.join(workdir, "results.md")
    with open(path, "w") as f:
        f.write(learning_curve.results_markdown(results))
    plot_learning_curves(results, os.path.join(workdir, PLOT_FILE))
    return path


def use_compile_cache(path: str) -> None:
    """Keeps compiled programs in ``path`` (JAX's persistent compilation cache): every
    round builds new jitted steps of the same shapes, which then load instead of
    compiling again (seconds per round on a CPU)."""
    import jax
    from jax.experimental.compilation_cache import compilation_cache

    os.makedirs(path, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", path)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    compilation_cache.reset_cache()  # a process that compiled before looks again
