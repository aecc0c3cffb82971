"""``mixer-vit prepare NAME [--source DIR] [--data_dir DIR]``: builds a data set offline.

  fashion_mnist   from the four original IDX .gz files (``--source``; default: the
                  ``dataset-fashion-mnist`` package's directory, then $FASHION_MNIST_DIR)
  sklearn_digits  from the copy inside scikit-learn (also built on first use)

The data set is written as array_record under its TFDS name in the data dir that
``mixer-vit train`` reads by default, so ``--config.data.name=NAME`` then trains on it.
"""

from __future__ import annotations

from collections.abc import Sequence

from absl import flags

from mixer_vit.errors import UserError

PREPARABLE = ("fashion_mnist", "sklearn_digits")
_SPLIT_ORDER = {"train": 0, "validation": 1, "test": 2}
USAGE = "mixer-vit prepare NAME [--source DIR] [--data_dir DIR]"


def split_name(argv: Sequence[str]) -> tuple[str | None, list[str]]:
    """``["fashion_mnist", "--source", "d"]`` -> ``("fashion_mnist", ["--source", "d"])``;
    the name comes first, None when the first argument is a flag."""
    if argv and not argv[0].startswith("-"):
        return argv[0], list(argv[1:])
    return None, list(argv)


def define_flags(fv: flags.FlagValues) -> None:
    flags.DEFINE_string(
        "source",
        None,
        "fashion_mnist: directory of the four IDX .gz files (default: "
        "/usr/share/datasets/fashion-mnist, then $FASHION_MNIST_DIR).",
        flag_values=fv,
    )
    flags.DEFINE_string(
        "data_dir",
        None,
        "TFDS data dir (default $TFDS_DATA_DIR or ~/tensorflow_datasets).",
        flag_values=fv,
    )


def _check_name(name: str | None) -> str:
    if not name:
        raise UserError(f"missing data set name; usage: {USAGE} (NAME: {', '.join(PREPARABLE)})")
    if name not in PREPARABLE:
        raise UserError(
            f"cannot prepare {name!r} offline; `mixer-vit prepare` builds "
            f"{', '.join(PREPARABLE)} (other TFDS data sets: `tfds build {name} "
            "--file_format array_record`; your own images: `mixer-vit import-folder`)"
        )
    return name


def run_command(name: str | None, fv: flags.FlagValues) -> int:
    """Prepares ``name`` and prints what is where and how to train on it."""
    name = _check_name(name)
    import tensorflow_datasets as tfds

    from mixer_vit.data import sources

    tfds.disable_progress_bar()
    data_dir = fv.data_dir or sources.default_data_dir()
    source_dir = None
    if name == "fashion_mnist":
        from mixer_vit.data.fashion_mnist_builder import prepare_fashion_mnist

        builder, source_dir = prepare_fashion_mnist(data_dir, fv.source)
    else:
        if fv.source:
            raise UserError(f"{name} needs no --source: its data ship with scikit-learn")
        was_prepared = tfds.builder(name, data_dir=data_dir).is_prepared()
        builder = sources.ensure_prepared(name, data_dir)
        source_dir = None if was_prepared else "scikit-learn"
    splits = sorted(builder.info.splits.keys(), key=lambda s: (_SPLIT_ORDER.get(s, 3), s))
    sizes = ", ".join(f"{split} {builder.info.splits[split].num_examples}" for split in splits)
    done = f"prepared from {source_dir}" if source_dir else "already prepared"
    print(f"{name} {builder.info.version} {done} in {builder.data_dir}: {sizes}")
    train_flags = f"--config.data.name={name}"
    if data_dir != sources.default_data_dir():
        train_flags += f" --config.data.data_dir={data_dir}"
    print(f"train on it with {train_flags}")
    return 0
