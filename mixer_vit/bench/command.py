"""Flags of ``mixer-vit bench`` and the command itself (cli.py only dispatches here).

  mixer-vit bench --models vit_s16,mixer_s16 --image_sizes 224 --batch_sizes 32 \\
      --dtypes float32,bfloat16 --modes inference,train,train_sam --repeats 5 --warmup 2 \\
      [--channels 3] [--out DIR] [--vs_timm] [--scan] [--override key=value,...]

``--override`` (for tests and quick looks) passes fields to every model, e.g.
``--override patch_size=8,embed_dim=32,depth=1,mixer_kwargs.num_heads=2``; with
``--vs_timm`` the same keys go to ``timm.create_model`` (``mixer_kwargs.`` dropped).
"""

from __future__ import annotations

from absl import flags


def define_flags(fv: flags.FlagValues) -> None:
    for name, default, help_text in (
        ("models", "vit_s16,mixer_s16", "Comma-separated model names."),
        ("image_sizes", "224", "Comma-separated square resolutions."),
        ("batch_sizes", "32", "Comma-separated global batch sizes."),
        ("dtypes", "float32,bfloat16", "Compute dtypes: float32, bfloat16."),
        ("modes", "inference,train,train_sam", "inference, train, train_sam."),
        ("out", None, "Directory for results.json and throughput.png."),
        ("override", None, "Model fields for every model, key=value,... (tests, quick looks)."),
    ):
        flags.DEFINE_string(name, default, help_text, flag_values=fv)
    flags.DEFINE_integer("repeats", 5, "Timed calls per row (median, min, max).", flag_values=fv)
    flags.DEFINE_integer(
        "channels", 3, "Input channels of the images (1 for grey images).", flag_values=fv
    )
    flags.DEFINE_integer("warmup", 2, "Untimed calls after compiling.", flag_values=fv)
    flags.DEFINE_boolean(
        "vs_timm",
        False,
        "Also time timm (PyTorch; on the GPU when JAX and torch both have one).",
        flag_values=fv,
    )
    flags.DEFINE_boolean("scan", False, "scan_blocks=True where a model has it.", flag_values=fv)


def run_command(fv: flags.FlagValues) -> int:
    from mixer_vit.xla_cpu_flags import set_default_xla_cpu_flags

    set_default_xla_cpu_flags()  # before anything starts JAX's backends
    if fv["vs_timm"].value:
        from mixer_vit.bench.timm_throughput import share_gpu_memory

        share_gpu_memory()
    from mixer_vit.bench.options import bench_options
    from mixer_vit.bench.run import run_bench

    names = (
        "models",
        "image_sizes",
        "batch_sizes",
        "channels",
        "dtypes",
        "modes",
        "repeats",
        "warmup",
        "out",
        "vs_timm",
        "scan",
        "override",
    )
    run_bench(bench_options(**{n: fv[n].value for n in names}))
    return 0
