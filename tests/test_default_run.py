"""The README's main job: the default config reaches >= 97% test accuracy on digits."""

import pytest
from conftest import DEFAULT_CONFIG

from mixer_vit import cli


@pytest.mark.slow
@pytest.mark.parametrize("preset", ["vit", "mixer"])
def test_default_config_reaches_97_percent_test_accuracy(preset, digits_data_dir, tmp_path, capsys):
    config = DEFAULT_CONFIG if preset == "vit" else f"{DEFAULT_CONFIG}:{preset}"
    assert (
        cli.main(
            [
                "train",
                "--config",
                config,
                "--workdir",
                str(tmp_path / "run"),
                f"--config.data.data_dir={digits_data_dir}",
            ]
        )
        == 0
    )
    line = [
        line for line in capsys.readouterr().out.splitlines() if line.startswith("test accuracy")
    ][-1]
    assert float(line.split()[2]) >= 0.97, line
