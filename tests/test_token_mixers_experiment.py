"""experiments/token_mixers.py: its seven arms are the seven token mixers, all valid, and
their models are at a matched parameter budget (within 2% of the attention arm's)."""

from __future__ import annotations

from mixer_vit.bench.flops import param_count
from mixer_vit.experiment.spec import load_base_config, load_experiment
from mixer_vit.models import create_model

FASHION_MNIST_SHAPE = (28, 28, 1)


def _arm_model(arm):
    config = load_base_config(arm.config)
    for dotted, value in arm.overrides.items():
        *parents, leaf = dotted.split(".")
        node = config
        for parent in parents:
            node = node[parent]
        node[leaf] = value
    overrides = dict(config.model.overrides.to_dict(), num_classes=10)
    return config, create_model(config.model.name, **overrides)


def test_arms_are_the_seven_mixers_at_a_matched_parameter_budget():
    spec = load_experiment("token_mixers")
    mixers, params = {}, {}
    for name, arm in spec.arms.items():
        config, model = _arm_model(arm)
        assert config.data.name == "fashion_mnist"
        assert config.data.test_split == "test" and config.data.eval_split.startswith("train[")
        mixers[name] = model.mixer
        params[name] = param_count(model, FASHION_MNIST_SHAPE)
    expected = ["attention", "dwconv", "fourier", "identity", "mlp", "pooling", "random"]
    assert sorted(mixers) == expected and all(mixers[a] == a for a in expected)
    for name, count in params.items():
        assert abs(count / params["attention"] - 1) < 0.02, (name, count, params["attention"])
