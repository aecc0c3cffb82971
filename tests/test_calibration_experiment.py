"""experiments/calibration.py: its four arms differ only in label smoothing and mixup, their
configs are valid, and every report path its table and rule read is a number in the test
report that training writes."""

from __future__ import annotations

import importlib.util
import os
import re

import numpy as np

from mixer_vit.experiment import config_overrides
from mixer_vit.experiment.spec import load_base_config, resolve_config_file
from mixer_vit.train.config_checks import check_config
from mixer_vit.train.test_report import build_report

EXPERIMENTS = os.path.join(os.path.dirname(os.path.dirname(__file__)), "experiments")


def _experiment():
    path = os.path.join(EXPERIMENTS, "calibration.py")
    spec = importlib.util.spec_from_file_location("calibration_experiment", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.get_config()


def _arm_config(experiment, arm):
    config = load_base_config(resolve_config_file(experiment["base_config"], EXPERIMENTS))
    overrides = {
        **config_overrides.flatten(experiment["base_overrides"]),
        **config_overrides.flatten(experiment["arms"][arm]),
    }
    config_overrides.check_against(config, overrides, f"arm {arm}")
    check_config(config)
    return config


def test_arms_vary_label_smoothing_and_mixup_only():
    experiment = _experiment()
    expected = {"plain": (0.0, 0.0), "smoothing": (0.1, 0.0), "mixup": (0.0, 0.2),
                "smoothing_mixup": (0.1, 0.2)}
    assert set(experiment["arms"]) == set(expected)
    configs = {arm: _arm_config(experiment, arm) for arm in expected}
    for arm, (smoothing, mixup) in expected.items():
        config = configs[arm]
        assert (config.loss.label_smoothing, config.augment.mixup_alpha) == (smoothing, mixup)
        assert config.augment.cutmix_alpha == 0.0
        assert config.data.name == "fashion_mnist" and config.data.test_split == "test"
        # the temperature is fitted on validation images held out of the training subset
        assert config.data.eval_split == "train[90%:95%]"
        split = config.data.train_split
        assert split.startswith("train[:") and split != "train[:90%]"
        rest = config.to_dict()
        rest["loss"].pop("label_smoothing"), rest["augment"].pop("mixup_alpha")
        plain = configs["plain"].to_dict()
        plain["loss"].pop("label_smoothing"), plain["augment"].pop("mixup_alpha")
        assert rest == plain, arm


def test_metrics_and_rule_read_numbers_of_the_test_report():
    experiment = _experiment()
    rng = np.random.default_rng(0)

    def predictions(n):
        probs = rng.dirichlet(np.full(10, 0.3), size=n)
        return [(probs, rng.integers(0, 10, size=n))]

    report = build_report(predictions(300), predictions(400))
    for path in experiment["metrics"]:
        value = report
        for key in path.split("."):
            value = value[key]
        assert isinstance(value, float), path
    # the rule names ARM or ARM.PATH with PATH one of the metrics
    named = set(re.findall(r"\b([A-Za-z_]\w*)\.([\w.]+)", experiment["rule"]))
    assert named == {("plain", "temperature_scaling.ece"), ("plain", "ece"),
                     ("plain", "temperature_scaling.temperature"), ("smoothing", "ece"),
                     ("mixup", "ece")}
    for arm, path in named:
        assert arm in experiment["arms"] and path in experiment["metrics"]
    assert set(experiment["published"]["values"]) <= set(experiment["arms"])
