"""The ``mixer-vit`` command: train, eval, predict, plot, show, models, bench, import-folder,
prepare, convert, experiment, active, search.

  mixer-vit train --config experiments/configs/digits.py --workdir workdirs/digits \\
      [--config.optim.lr=1e-3 ...]
  mixer-vit eval --workdir workdirs/digits [--split test] [--step N]
  mixer-vit predict --workdir workdirs/digits pictures/ one.png [--top_k 3] [--json]
  mixer-vit plot --workdir workdirs/a workdirs/b --out plots/ab
  mixer-vit show --workdir workdirs/digits --images a.png,b.png [--layers 0,1] [--heads 0]
  mixer-vit models [--filter vit_]
  mixer-vit prepare fashion_mnist [--source DIR] [--data_dir DIR]
  mixer-vit experiment digits_mixers [--seeds 2] [--jobs 1] [--dry-run]
  mixer-vit active experiments/active/digits.py --workdir workdirs/active_digits
  mixer-vit search experiments/search/digits.py --workdir workdirs/search_digits
  mixer-vit convert --model vit_b16 --from big_vision --weights ViT-B_16.npz --out DIR \\
      [--image_size 384] [--num_classes 10]

``mixer-vit COMMAND --help`` lists the command's flags. Flag names may be spelled with
``-`` or ``_`` (``--vs-timm``), and ``--no_NAME`` switches a boolean off (absl: ``--noNAME``).

Mistakes a user can fix (unknown model, bad config value, unprepared data set, a config
file with a syntax error, ...) raise ``mixer_vit.errors.UserError``; they and command-line
usage errors end with one line ``error: ...`` on stderr and exit status 2, without a
traceback. Any other exception (a library ``ValueError`` included) is a bug and keeps its
traceback. Exit statuses, environment variables and the policy: docs/cli.md.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence

from absl import flags
from ml_collections import config_flags

from mixer_vit.cli_flags import HELP_FLAGS, HelpRequested, UsageError
from mixer_vit.cli_flags import parse_flags as _parse

USAGE = (
    "usage: mixer-vit {train,eval,predict,plot,show,models,bench,import-folder,prepare,convert,"
    "experiment,active,search} "
    "[flags]\n"
    "  train   --config FILE --workdir DIR [--config.KEY=VALUE ...] [MULTI-PROCESS]\n"
    "  eval    --workdir DIR [--split test] [--step N] [MULTI-PROCESS]\n"
    "  predict --workdir DIR [--step N] [--top_k 5] [--json] [--batch_size 64] IMAGE...\n"
    "  plot    --workdir DIR [DIR ...] [--out DIR]\n"
    "  show    --workdir DIR [--images PATH[,PATH...]] [--out DIR] [--layers 0,5] "
    "[--heads 0,1] [--units 32] [--step N]\n"
    "  models  [--filter REGEX] [--no_flops]\n"
    "  bench   [--models A,B] [--modes inference,train,train_sam] [--out DIR] [--vs_timm] ...\n"
    "  import-folder --folder DIR --name NAME [--data_dir DIR]\n"
    "  prepare NAME [--source DIR] [--data_dir DIR]   (fashion_mnist, sklearn_digits)\n"
    "  convert --model NAME --from {timm,big_vision} --weights FILE --out DIR "
    "[--image_size N] [--num_classes N]\n"
    "  experiment NAME [--seeds N] [--jobs J] [--arms A,B] [--dry-run] [--root DIR] [--results DIR]\n"
    "  active  CONFIG --workdir DIR [--strategies a,b] [--seeds N]\n"
    "  search  CONFIG --workdir DIR [--strategy NAME] [--seed N]\n"
    "  search  CONFIG --compare DIR,DIR,... --results DIR\n"
    "  MULTI-PROCESS: --coordinator_address HOST:PORT --num_processes N --process_id I "
    "[--local_device_ids 0,1] (or JAX_COORDINATOR_ADDRESS/..., SLURM, Open MPI, TPU VM)"
)


def _define_distributed_flags(fv: flags.FlagValues) -> None:
    """Flags of a multi-process run (see mixer_vit/parallel/distributed.py and docs/scale_out.md)."""
    flags.DEFINE_string(
        "coordinator_address",
        None,
        "HOST:PORT of process 0 (default: $JAX_COORDINATOR_ADDRESS or the cluster's).",
        flag_values=fv,
    )
    flags.DEFINE_integer(
        "num_processes", None, "Processes in the run (default: $JAX_NUM_PROCESSES).", flag_values=fv
    )
    flags.DEFINE_integer(
        "process_id", None, "This process's id, 0..N-1 (default: $JAX_PROCESS_ID).", flag_values=fv
    )
    flags.DEFINE_list(
        "local_device_ids", None, "Devices this process uses (e.g. 0,1).", flag_values=fv
    )


def _apply_xla_cpu_flags() -> None:
    """The XLA:CPU settings of ``mixer_vit.xla_cpu_flags`` for train/eval, as
    ``MIXER_VIT_XLA_CPU_FLAGS`` or the measured default for training say (docs/cli.md);
    before anything starts JAX's backends."""
    from mixer_vit.xla_cpu_flags import TRAIN_DEFAULT, set_default_xla_cpu_flags

    set_default_xla_cpu_flags(default=TRAIN_DEFAULT)


def _start_distributed(fv: flags.FlagValues) -> bool:
    """Joins JAX's distributed runtime when the flags, environment or cluster ask for it
    (before any JAX backend use); returns whether this process prints results."""
    from mixer_vit.parallel import distributed

    if distributed.start(
        fv.coordinator_address, fv.num_processes, fv.process_id, fv.local_device_ids
    ):
        return distributed.is_main_process()
    return True


CONFIG_HELP = "Config file, FILE.py or FILE.py:ARG (e.g. experiments/configs/digits.py)."


def _take_config_flag(argv: Sequence[str]) -> tuple[str | None, list[str]]:
    """Splits ``--config FILE`` / ``--config=FILE`` (the last one wins, as in absl) from the
    other arguments; ``--config.KEY=VALUE`` overrides stay."""
    spec, rest, args = None, [], list(argv)
    while args:
        arg = args.pop(0)
        if arg in ("--config", "-config"):
            if not args:
                raise UsageError(
                    "--config needs a value; e.g. --config experiments/configs/digits.py"
                )
            spec = args.pop(0)
        elif arg.startswith(("--config=", "-config=")):
            spec = arg.split("=", 1)[1]
        else:
            rest.append(arg)
    return spec, rest


def check_workdir_target(workdir: str) -> None:
    """Raises ``UserError`` when ``workdir`` (or the closest of its parents that exists) is
    not a directory, before anything is written."""
    from mixer_vit.errors import UserError

    path = os.path.abspath(workdir)
    if os.path.exists(path) and not os.path.isdir(path):
        raise UserError(
            f"--workdir {workdir} is a file; give a directory (created if missing), "
            f"e.g. --workdir workdirs/run1"
        )
    parent = os.path.dirname(path)
    while not os.path.exists(parent) and parent != os.path.dirname(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        raise UserError(f"--workdir {workdir} lies under the file {parent}; give a directory path")


def _train(argv: Sequence[str]) -> int:
    config_spec, argv = _take_config_flag(argv)
    config = None
    if not any(a in HELP_FLAGS for a in argv):
        if config_spec is None:
            raise UsageError("missing --config; e.g. --config experiments/configs/digits.py")
        from mixer_vit.config_file import load_config_file

        config = load_config_file(config_spec)

    def define(fv):
        if config is None:
            flags.DEFINE_string("config", None, CONFIG_HELP, flag_values=fv)
        else:
            # The --config.KEY=VALUE override flags are registered from these arguments.
            config_flags.DEFINE_config_dict(
                "config",
                config,
                CONFIG_HELP,
                flag_values=fv,
                lock_config=True,
                sys_argv=["mixer-vit", *argv],
            )
        flags.DEFINE_string(
            "workdir",
            None,
            "Directory for checkpoints, metrics and TensorBoard files.",
            flag_values=fv,
        )
        _define_distributed_flags(fv)

    fv = _parse(argv, define)
    if not fv.workdir:
        raise UsageError("missing --workdir; e.g. --workdir workdirs/digits")
    check_workdir_target(fv.workdir)
    _apply_xla_cpu_flags()
    prints = _start_distributed(fv)
    from mixer_vit.train.loop import train_and_evaluate

    result = train_and_evaluate(fv.config, fv.workdir)
    if not prints:
        return 0
    if result.get("halted"):
        print(f"halted after step {result['steps']}; run the same command to resume")
    elif "members" in result:  # a population (train.population)
        for member in result["members"]:
            label = member.get("folder", f"seed {member['seed']}")
            print(
                f"{label}: test accuracy {member['accuracy']:.4f} "
                f"({member['count']} examples, loss {member['loss']:.4f})"
            )
        print(f"population of {len(result['members'])} after {result['steps']} steps; "
              f"member workdirs {os.path.join(fv.workdir, 'members')}")
    else:
        print(
            f"test accuracy {result['accuracy']:.4f} ({result['count']} examples, "
            f"loss {result['loss']:.4f}) after {result['steps']} steps; workdir {fv.workdir}"
        )
    return 0


def _eval(argv: Sequence[str]) -> int:
    def define(fv):
        flags.DEFINE_string("workdir", None, "A training workdir.", flag_values=fv)
        flags.DEFINE_string("split", "test", "Split to evaluate.", flag_values=fv)
        flags.DEFINE_integer("step", None, "Checkpoint step (default: the latest).", flag_values=fv)
        _define_distributed_flags(fv)

    fv = _parse(argv, define)
    if not fv.workdir:
        raise UsageError("missing --workdir; e.g. --workdir workdirs/digits")
    _apply_xla_cpu_flags()
    prints = _start_distributed(fv)
    from mixer_vit.train.evaluate_checkpoint import evaluate_checkpoint

    result = evaluate_checkpoint(fv.workdir, fv.split, fv.step)
    if not prints:
        return 0
    print(
        f"{fv.split} accuracy {result['accuracy']:.4f} ({result['count']} examples, loss "
        f"{result['loss']:.4f}) at step {result['step']}"
    )
    return 0


def _predict(argv: Sequence[str]) -> int:
    from mixer_vit.predict.command import define_flags, run_command, split_paths

    paths, rest = split_paths(argv)
    _apply_xla_cpu_flags()
    return run_command(_parse(rest, define_flags), paths)


def _plot(argv: Sequence[str]) -> int:
    from mixer_vit.run_plots.command import define_flags, expand_workdir_args, run_command

    return run_command(_parse(expand_workdir_args(argv), define_flags))


def _show(argv: Sequence[str]) -> int:
    from mixer_vit.model_views.command import define_flags, run_command

    _apply_xla_cpu_flags()
    return run_command(_parse(argv, define_flags))


def _models(argv: Sequence[str]) -> int:
    def define(fv):
        flags.DEFINE_string(
            "filter", None, "Only names matching this regular expression.", flag_values=fv
        )
        flags.DEFINE_boolean(
            "flops", True, "Compute GFLOPs with XLA's cost analysis (slower).", flag_values=fv
        )

    fv = _parse(argv, define)
    from mixer_vit.bench.models_table import print_models_table

    print_models_table(fv.filter, with_flops=fv.flops)
    return 0


def _convert(argv: Sequence[str]) -> int:
    def define(fv):
        for name, help_text in (
            ("model", "Our model name (see `mixer-vit models`)."),
            ("weights", "A .safetensors or .npz file (pickles are refused)."),
            ("out", "A new (or empty) directory for the converted weights."),
        ):
            flags.DEFINE_string(name, None, help_text, flag_values=fv)
        flags.DEFINE_enum("from", None, ["timm", "big_vision"], "Checkpoint kind.", flag_values=fv)
        for name, help_text in (
            ("image_size", "Resolution (default: the model's)."),
            ("num_classes", "Head outputs (default: the model's, 1000)."),
        ):
            flags.DEFINE_integer(name, None, help_text, flag_values=fv)

    fv = _parse(argv, define)
    for name in ("model", "from", "weights", "out"):
        if fv[name].value is None:
            usage = next(line for line in USAGE.splitlines() if line.split()[:1] == ["convert"])
            raise UsageError(f"missing --{name}; usage: mixer-vit {' '.join(usage.split())}")
    from mixer_vit.convert.convert_command import convert_to_directory

    summary = convert_to_directory(
        fv.model, fv["from"].value, fv.weights, fv.out, fv.image_size, fv.num_classes
    )
    print(summary)
    return 0


def _bench(argv: Sequence[str]) -> int:
    from mixer_vit.bench.command import define_flags, run_command

    return run_command(_parse(argv, define_flags))


def _prepare(argv: Sequence[str]) -> int:
    from mixer_vit.data.prepare_command import define_flags, run_command, split_name

    name, rest = split_name(argv)
    return run_command(name, _parse(rest, define_flags))


def _import_folder(argv: Sequence[str]) -> int:
    from mixer_vit.data.import_command import define_flags, run_command

    return run_command(_parse(argv, define_flags))


def _experiment(argv: Sequence[str]) -> int:
    from mixer_vit.experiment.command import define_flags, run_command, split_name

    name, rest = split_name(argv)
    return run_command(name, _parse(rest, define_flags), argv)


def _active(argv: Sequence[str]) -> int:
    from mixer_vit.active.command import define_flags, run_command, split_name

    config_path, rest = split_name(argv)
    _apply_xla_cpu_flags()
    return run_command(config_path, _parse(rest, define_flags))


def _search(argv: Sequence[str]) -> int:
    from mixer_vit.search.command import define_flags, run_command, split_name

    config_path, rest = split_name(argv)
    _apply_xla_cpu_flags()
    return run_command(config_path, _parse(rest, define_flags))


COMMANDS = {
    "train": _train,
    "eval": _eval,
    "predict": _predict,
    "plot": _plot,
    "show": _show,
    "models": _models,
    "bench": _bench,
    "import-folder": _import_folder,
    "prepare": _prepare,
    "convert": _convert,
    "experiment": _experiment,
    "active": _active,
    "search": _search,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Runs one command; returns the exit status (0 done, 2 user or usage error, 130
    interrupted). From the real command line (``argv`` None) a CPU run first restarts
    itself once with huge pages for malloc (``mixer_vit.malloc_hugepages``)."""
    if argv is None:
        from mixer_vit.malloc_hugepages import reexec_with_malloc_hugepages

        reexec_with_malloc_hugepages()
    argv = list(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("mixer_vit").setLevel(logging.INFO)
    logging.getLogger("absl").setLevel(logging.ERROR)  # tfds: "OpenCV is not installed"
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(USAGE)
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        print(f"error: unknown command {command!r}\n{USAGE}", file=sys.stderr)
        return 2
    from mixer_vit.errors import UserError

    try:
        return COMMANDS[command](rest)
    except HelpRequested as e:
        usage = next(line for line in USAGE.splitlines() if line.split()[:1] == [command])
        print(f"usage: mixer-vit {' '.join(usage.split())}\n{e}")
        return 0
    except (UsageError, UserError) as e:
        message = " ".join(str(e).split("\n")[0].split())
        print(f"error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            "interrupted; run the same command again to resume from the last checkpoint",
            file=sys.stderr,
        )
        return 130


if __name__ == "__main__":
    sys.exit(main())
