"""``mixer-vit import-folder``: an image folder -> a TFDS array_record dataset."""

from __future__ import annotations

from absl import flags

from mixer_vit.errors import UserError


def define_flags(fv: flags.FlagValues) -> None:
    flags.DEFINE_string(
        "folder", None, "Folder laid out as <split>/<class_name>/*.jpg|png.", flag_values=fv
    )
    flags.DEFINE_string("name", None, "New dataset name (lower_snake_case).", flag_values=fv)
    flags.DEFINE_string(
        "data_dir",
        None,
        "TFDS data dir (default $TFDS_DATA_DIR or ~/tensorflow_datasets).",
        flag_values=fv,
    )


def run_command(fv: flags.FlagValues) -> int:
    """Builds the dataset and prints its split sizes and classes."""
    for name in ("folder", "name"):
        if not fv[name].value:
            raise UserError(
                f"missing --{name}; usage: mixer-vit import-folder --folder DIR --name NAME "
                "[--data_dir DIR]"
            )
    import tensorflow_datasets as tfds

    from mixer_vit.data.image_folder import build_image_folder

    tfds.disable_progress_bar()
    summary = build_image_folder(fv.folder, fv.name, fv.data_dir)
    print(summary)
    print(
        f"use it with --config.data.name={summary.name} --config.data.data_dir={summary.data_dir}"
    )
    return 0
