"""Architecture search over the isotropic MetaFormer and, stage by stage, the
hierarchical one (``mixer-vit search``).

A search config (``experiments/search/*.py``, settings.py) declares the space (token
mixer, depth, width, MLP ratio, patch size, heads: space.py; or, with ``stages``, each
stage's mixer, depth, width, MLP ratio and heads plus the stem's patch size:
staged_space.py), the constraints (params,
FLOPs, latency: constraints.py), the training of a candidate (a base config plus
overrides: candidate_training.py), a strategy (strategies/: random search, regularized
evolution, successive halving, Hyperband), a budget and a seed. loop.py runs it resumably into a
workdir (``history.jsonl``), after the hand-designed reference models the config names
(references.py: trained in the same setting, kept out of the history, compared with the
search's best); report.py and pareto_plot.py write the results.
compound_scaling.py scales a base model EfficientNet's way (depth, width, resolution by
alpha^phi, beta^phi, gamma^phi) and finds the FLOPs-matched single-axis models
(experiments/compound_grid.py, experiments/compound_scaling.py).
"""
