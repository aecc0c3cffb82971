"""The table behind ``mixer-vit models``: every registered model with its parameter
count and forward GFLOPs per image at its default resolution."""

from __future__ import annotations

from tqdm import tqdm

from mixer_vit.bench.flops import forward_flops_per_image, param_count
from mixer_vit.models import create_model, model_default_image_size
from mixer_vit.models.registry import search_models


def models_table(pattern: str | None = None, with_flops: bool = True) -> list[dict]:
    """Rows ``{"name", "image_size", "params", "gflops"}`` (gflops None without flops) of
    the models whose name the regular expression ``pattern`` matches (``UserError`` when
    it is not one)."""
    names = search_models(pattern)
    rows = []
    for name in tqdm(names, desc="models", leave=False, disable=None):
        model = create_model(name)
        size = model_default_image_size(name)
        shape = (size, size, 3)
        rows.append(
            {
                "name": name,
                "image_size": size,
                "params": param_count(model, shape),
                "gflops": forward_flops_per_image(model, shape) / 1e9 if with_flops else None,
            }
        )
    return rows


def print_models_table(pattern: str | None = None, with_flops: bool = True) -> None:
    rows = models_table(pattern, with_flops)
    print("| model | resolution | params | GFLOPs/image (XLA, 2 per MAC) |")
    print("|---|---|---|---|")
    for r in rows:
        gflops = f"{r['gflops']:.2f}" if r["gflops"] is not None else "-"
        print(f"| {r['name']} | {r['image_size']} | {r['params']:,} | {gflops} |")
