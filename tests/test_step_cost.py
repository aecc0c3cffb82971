"""``python -m mixer_vit.bench.step_cost --config``: plain and SAM steps of a run config."""

import textwrap

from conftest import DEFAULT_CONFIG

from mixer_vit.bench import step_cost


def test_config_rows_time_the_runs_own_steps(tmp_path, digits_data_dir, capsys, monkeypatch):
    config_file = tmp_path / "tiny.py"
    config_file.write_text(
        textwrap.dedent(
            f"""
            from mixer_vit.config_file import load_config_file

            def get_config(arg=None):
                config = load_config_file({DEFAULT_CONFIG!r})
                config.data.data_dir = {digits_data_dir!r}
                config.model.overrides.embed_dim = 32
                config.model.overrides.depth = 1
                config.train.global_batch_size = int(arg)
                return config
            """
        )
    )
    seen = []
    real_make_train_step = step_cost.make_train_step

    def recording(*args, options, **kwargs):
        seen.append(options)
        return real_make_train_step(*args, options=options, **kwargs)

    monkeypatch.setattr(step_cost, "make_train_step", recording)
    row = step_cost.config_step_cost(f"{config_file}:16", repeats=3)
    # the run's own options (label smoothing 0.1 of the default config), SAM off and on
    assert [(o.sam_rho, o.label_smoothing) for o in seen] == [(0.0, 0.1), (0.05, 0.1)]
    assert (row["model"], row["batch"], row["image"]) == ("vit_ti16", 16, "8x8x1")
    assert row["plain_s"] > 0 and row["sam_s"] > 0
    assert 0.2 < row["ratio"] < 20

    step_cost.main(["--config", f"{config_file}:8", "--repeats", "2"])
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("| config | model | batch | image |")
    assert lines[2].startswith(f"| {config_file}:8 | vit_ti16 | 8 | 8x8x1 |")
