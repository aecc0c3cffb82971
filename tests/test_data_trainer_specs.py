"""Your own image folder, imported, then trained by name with preprocessing specs from the
config: the full path a user takes."""

from conftest import DEFAULT_CONFIG
from test_cli_errors import assert_one_line_error
from test_data_helpers import write_image_folder

from mixer_vit import cli


def test_import_folder_then_train_with_pp_specs(tmp_path, capsys):
    folder = write_image_folder(
        tmp_path / "pets", {"train": 8, "validation": 3, "test": 3}, ["cat", "dog"], size=(40, 36)
    )
    data_dir = tmp_path / "tfds"
    assert (
        cli.main(
            [
                "import-folder",
                "--folder",
                str(folder),
                "--name",
                "my_pets",
                "--data_dir",
                str(data_dir),
            ]
        )
        == 0
    )
    capsys.readouterr()
    common = [
        "train",
        "--config",
        DEFAULT_CONFIG,
        "--workdir",
        str(tmp_path / "run"),
        "--config.data.name=my_pets",
        f"--config.data.data_dir={data_dir}",
        "--config.data.in_memory=False",
        "--config.model.overrides.patch_size=8",
        "--config.model.overrides.embed_dim=32",
        "--config.model.overrides.depth=1",
        "--config.model.overrides.mixer_kwargs.num_heads=2",
        "--config.train.global_batch_size=8",
        "--config.train.num_epochs=1",
    ]
    code = cli.main(
        [
            *common,
            "--config.data.train_pp=random_resized_crop(32)|flip|normalize(imagenet)",
            "--config.data.eval_pp=resize(32)|normalize(imagenet)",
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "test accuracy" in out and "(6 examples" in out
    # The model's input shape comes from the eval spec (32x32), not the stored 40x36.
    bad = cli.main(
        [
            *common[:4],
            str(tmp_path / "run2"),
            *common[5:],
            "--config.data.eval_pp=resize(30)|normalize(imagenet)",
        ]
    )
    assert_one_line_error(capsys, bad, "30x30", "patch size 8")
