"""The results table's "what differs" column: each arm shows what makes it that arm."""

from mixer_vit.experiment.report import _distinguishing


def _results(arms: dict) -> dict:
    return {"arms": {name: {"config": config, "overrides": overrides}
                     for name, (config, overrides) in arms.items()}}


def test_an_ablation_shows_only_the_ingredient_each_arm_changes():
    base = {"augment.mixup_alpha": 0.8, "augment.cutmix_alpha": 1.0, "optim.name": "adamw"}
    differs = _distinguishing(_results({
        "full": ("vit.py", dict(base)),
        "no_mixup": ("vit.py", {**base, "augment.mixup_alpha": 0.0}),
        "no_cutmix": ("vit.py", {**base, "augment.cutmix_alpha": 0.0}),
        "sgd": ("vit.py", {**base, "optim.name": "sgd"}),
    }))
    assert differs == {
        "full": "(the shared setting)",
        "no_mixup": "augment.mixup_alpha=0.0",
        "no_cutmix": "augment.cutmix_alpha=0.0",
        "sgd": "optim.name=sgd",
    }


def test_values_no_two_arms_share_are_shown_for_every_arm():
    differs = _distinguishing(_results({
        "vit": ("fm.py:vit", {"train.num_epochs": 12}),
        "mixer": ("fm.py:mixer", {"train.num_epochs": 12}),
        "resnet": ("fm.py:resnet", {"train.num_epochs": 12}),
    }))
    assert differs == {"vit": "config=fm.py:vit", "mixer": "config=fm.py:mixer",
                       "resnet": "config=fm.py:resnet"}


def test_a_reference_value_held_by_a_minority_is_shown_for_every_arm():
    # token_mixers: the reference (attention) keeps MLP ratio 4, most arms change it to 6
    differs = _distinguishing(_results({
        "attention": ("mixers.py:attention", {"model.overrides.mlp_ratio": 4.0}),
        "mlp": ("mixers.py:mlp", {"model.overrides.mlp_ratio": 4.0}),
        "pooling": ("mixers.py:pooling", {"model.overrides.mlp_ratio": 6.0}),
        "identity": ("mixers.py:identity", {"model.overrides.mlp_ratio": 6.0}),
        "fourier": ("mixers.py:fourier", {"model.overrides.mlp_ratio": 6.0}),
    }))
    assert differs["attention"] == "config=mixers.py:attention, model.overrides.mlp_ratio=4.0"
    assert differs["pooling"] == "config=mixers.py:pooling, model.overrides.mlp_ratio=6.0"


def test_a_tie_between_values_shows_the_key_for_every_arm_that_sets_it():
    differs = _distinguishing(_results({
        "vit": ("fm.py:vit", {}),
        "vit_sam": ("fm.py:vit", {"sam.rho": 0.05}),
        "resnet": ("fm.py:resnet", {}),
        "resnet_sam": ("fm.py:resnet", {"sam.rho": 0.05}),
    }))
    assert differs == {
        "vit": "config=fm.py:vit",
        "vit_sam": "config=fm.py:vit, sam.rho=0.05",
        "resnet": "config=fm.py:resnet",
        "resnet_sam": "config=fm.py:resnet, sam.rho=0.05",
    }


def test_a_pipe_in_a_value_is_escaped_for_the_markdown_table():
    differs = _distinguishing(_results({
        "full": ("vit.py", {"data.train_pp": "crop|flip|randaugment(2,9)"}),
        "other": ("vit.py", {"data.train_pp": "crop|flip|randaugment(2,9)"}),
        "no_randaugment": ("vit.py", {"data.train_pp": "crop|flip"}),
    }))
    assert differs["no_randaugment"] == "data.train_pp=crop\\|flip"
