"""Compound scaling, step 2: scale depth, width and resolution together (phi = 1, 2)
against scaling one of them, at matched FLOPs (EfficientNet Table 7).

EfficientNet (Tan & Le 2019) Table 7 scales B0 (77.3% ImageNet top-1, 0.39B FLOPs) to
about 1.8B FLOPs four ways: depth only 79.0, width only 78.9, resolution only 79.1,
compound 81.1. Here the base is a small ViT (``compound_grid.py`` defines it and the
whole setting); the arms are computed when the file is read:

- ``base``: depth 4, width 48, 24x24 images (36 tokens);
- ``compound_phi1``, ``compound_phi2``: the base scaled by alpha^phi, beta^phi, gamma^phi
  (``mixer_vit/search/compound_scaling.py``, rounding included);
- ``depth_only``, ``width_only``, ``resolution_only``: the base with one axis grown
  until its forward FLOPs (XLA's cost analysis) are the closest to compound_phi2's
  (depth in blocks, width in multiples of 4, resolution in multiples of the 4-pixel patch).

(alpha, beta, gamma) comes from the grid search, ``experiments/results/compound_grid/
results.json``: its arm with the best mean VALIDATION accuracy. Without that file the
default is EfficientNet's own point, 1.2, 1.1, 1.15 (DEFAULT_POINT). Run the grid first,
then this. Grid results that arrive later change these arms: the runner then refuses the
old run summaries of changed arms (delete them and their workdirs to rerun those arms). 6 arms x 3 seeds; about 30 minutes on an idle
2-core CPU (see SIZING).

  mixer-vit prepare fashion_mnist                    # once
  mixer-vit experiment compound_grid                 # step 1: choose (alpha, beta, gamma)
  mixer-vit experiment compound_scaling              # step 2; results in experiments/results/
  mixer-vit experiment compound_scaling --dry-run    # the arms it computed, as train lines

The results table's GFLOPs/img column shows how closely each single-axis arm matches
compound_phi2 (the search picks the closest value of its axis; a step of one block,
4 channels or 4 pixels is the resolution of the match).

SIZING: 1-epoch smoke runs (compound_grid.py's docstring has them) extrapolate to 8
epochs as base 85 s, compound_phi1 196 s, compound_phi2 345 s, depth_only 345 s,
width_only 215 s, resolution_only 335 s on a 2-core CPU at load 7: 25 min per seed, so
8-10 min per seed, 25-30 min for 3 seeds, on an idle one (2.5-3x faster).
"""

import importlib.util
import json
import os

from mixer_vit.search import compound_scaling as cs

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_POINT = (1.2, 1.1, 1.15)  # EfficientNet-B0's grid-search result
PHIS = (1, 2)
GRID_RESULTS = os.path.join(HERE, "results", "compound_grid", "results.json")


def _grid_module():
    spec = importlib.util.spec_from_file_location("compound_grid_setting",
                                                  os.path.join(HERE, "compound_grid.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def chosen_point():
    """((alpha, beta, gamma), where it came from in words)."""
    if not os.path.isfile(GRID_RESULTS):
        return DEFAULT_POINT, ("the default 1.2, 1.1, 1.15 (EfficientNet-B0's), since "
                               "experiments/results/compound_grid/results.json does not exist")
    with open(GRID_RESULTS) as f:
        results = json.load(f)
    point, arm, accuracy = cs.best_validation_point(results, GRID_RESULTS)
    return point, (f"the compound_grid arm with the best validation accuracy, {arm} "
                   f"({100 * accuracy:.2f}%, experiments/results/compound_grid/results.json)")


def get_config():
    grid = _grid_module()
    point, source = chosen_point()
    gflops = grid.gflops()
    shapes = {"base": grid.BASE.shape}
    for phi in PHIS:
        shapes[f"compound_phi{phi}"] = cs.scaled(grid.BASE, *point, phi)
    target = gflops(shapes[f"compound_phi{PHIS[-1]}"])
    for axis in cs.AXES:
        shapes[f"{axis}_only"] = cs.single_axis(grid.BASE, axis, target, gflops)
    described = "; ".join(f"{arm} {shape.name} {gflops(shape):.4f} GFLOPs"
                          for arm, shape in shapes.items())

    config = {}
    config["claim"] = (
        "Scaling depth, width and resolution together (compound scaling, "
        "alpha^phi, beta^phi, gamma^phi) beats scaling any one of them to the same FLOPs "
        "(EfficientNet Table 7: B0 77.3; at ~1.8B FLOPs depth only 79.0, width only 78.9, "
        "resolution only 79.1, compound 81.1 ImageNet top-1). Rule: compound_phi2 is at "
        "least as accurate as each single-axis arm at its FLOPs."
    )
    config["setting"] = (
        f"{grid.SETTING} (alpha, beta, gamma) = {point}: {source}. Arms (depth d, width w, "
        f"resolution r; forward GFLOPs per image, XLA's count): {described}. EfficientNet's "
        f"Table 7 compares at 1.8/0.39 = 4.6x B0's FLOPs; phi = {PHIS[-1]} here is "
        f"{target / gflops(shapes['base']):.1f}x the base's."
    )
    config["base_config"] = grid.BASE_CONFIG
    config["base_overrides"] = grid.BASE_OVERRIDES
    config["arms"] = {arm: grid.shape_overrides(shape) for arm, shape in shapes.items()}
    config["seeds"] = 3
    config["published"] = dict(
        source=(
            "EfficientNet (Tan & Le 2019) Table 7, ImageNet top-1 (%) of B0 scaled to about "
            "1.8B FLOPs (multiply-adds) each way: depth d=4, width w=2, resolution r=2, "
            "compound; B0 0.39B FLOPs, the others 1.8-1.9B (numbers as quoted in the issue); "
            "phi = 1 is EfficientNet-B1 (Table 2; quoted from memory, not re-checked)"
        ),
        values={
            "base": 77.3,
            "compound_phi1": "B1 79.1 at 0.70B FLOPs (not re-checked)",
            "compound_phi2": 81.1,
            "depth_only": 79.0,
            "width_only": 78.9,
            "resolution_only": 79.1,
        },
    )
    config["rule"] = (
        "compound_phi2 >= depth_only and compound_phi2 >= width_only "
        "and compound_phi2 >= resolution_only"
    )
    return config
