"""End-of-run sharpness (``sharpness.examples``): the value test_report.json stores, its
config checks, and Hessian-vector products through the CPU-tuned kernels."""

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from conftest import load_default_config
from tiny_models import TINY, images, random_variables

from mixer_vit import data
from mixer_vit.errors import UserError
from mixer_vit.layers.kernels import use_kernels
from mixer_vit.metrics.hessian import hessian_vector_product, largest_hessian_eigenvalue
from mixer_vit.models import create_model
from mixer_vit.train.config_checks import check_config
from mixer_vit.train.loop import train_and_evaluate
from mixer_vit.train.plan import plan_run
from mixer_vit.train.sharpness import measure_sharpness
from mixer_vit.train.trained_model import load_trained_model

EXAMPLES = 50  # not a multiple of the batch (32): the last chunk is padded and masked
SMOOTHING = 0.1


def digits_config(data_dir, **sharpness):
    """A tiny ResNet (BatchNorm: eval mode must use the running statistics) on digits."""
    config = load_default_config()
    config.data.data_dir = data_dir
    config.model.name = "resnet18"
    config.model.overrides = dict(stem="cifar", depths=(1,), stage_widths=(8,))
    config.train.global_batch_size = 32
    config.train.num_epochs = 1
    config.train.end_of_run_images = False
    config.optim.warmup = "1ep"
    config.loss.label_smoothing = SMOOTHING
    for key, value in sharpness.items():
        config.sharpness[key] = value
    return config


@pytest.fixture(scope="module")
def finished_run(digits_data_dir, tmp_path_factory):
    workdir = str(tmp_path_factory.mktemp("sharp_run"))
    train_and_evaluate(digits_config(digits_data_dir, examples=EXAMPLES), workdir)
    with open(os.path.join(workdir, "test_report.json")) as f:
        return workdir, json.load(f)


def test_stored_sharpness_equals_a_direct_call(finished_run, digits_data_dir):
    workdir, report = finished_run
    stored = report["sharpness"]
    assert stored["examples"] == EXAMPLES
    trained = load_trained_model(workdir)
    assert "batch_stats" in trained.variables
    source = data.open_source("sklearn_digits", "train", digits_data_dir)
    indices = [i * len(source) // EXAMPLES for i in range(EXAMPLES)]
    rows = [trained.preprocess(source[i]) for i in indices]
    x = jnp.asarray(np.stack([r["image"] for r in rows]))
    targets = np.full((EXAMPLES, 10), SMOOTHING / 10, np.float32)
    targets[np.arange(EXAMPLES), [int(r["label"]) for r in rows]] += 1 - SMOOTHING
    others = {k: v for k, v in trained.variables.items() if k != "params"}

    def loss(params):  # all examples at once, no chunks or masks
        logits = trained.model.apply({"params": params, **others}, x, train=False)
        return jnp.mean(optax.softmax_cross_entropy(logits, jnp.asarray(targets)))

    direct = largest_hessian_eigenvalue(
        loss, trained.variables["params"], jax.random.PRNGKey(0), num_iterations=20,
        tolerance=1e-3,
    )
    assert stored["iterations"] == int(direct.iterations)
    assert stored["hessian_top_eigenvalue"] == pytest.approx(float(direct.eigenvalue), rel=1e-4)
    assert stored["hessian_top_eigenvalue"] > 0  # a trained minimum: positive curvature


def test_off_by_default(digits_data_dir):
    config = digits_config(digits_data_dir)
    assert config.sharpness.examples == 0
    assert measure_sharpness(plan_run(config), state=None) is None


@pytest.mark.parametrize(
    "changes, message",
    [
        (dict(examples=-1), "sharpness.examples must be an integer >= 0"),
        (dict(examples=8, iterations=0), "sharpness.iterations must be an integer >= 1"),
        (dict(tolerance=-0.1), "sharpness.tolerance must be >= 0"),
    ],
)
def test_bad_settings_fail_in_the_config_check(digits_data_dir, changes, message):
    with pytest.raises(UserError, match=message):
        check_config(digits_config(digits_data_dir, **changes))


def test_more_examples_than_the_run_trains_on(digits_data_dir):
    config = digits_config(digits_data_dir, examples=2000)  # digits train: 1,258
    with pytest.raises(UserError, match="trains on only 1258 examples"):
        plan_run(config)


def test_population_runs_are_refused(digits_data_dir):
    config = digits_config(digits_data_dir, examples=16)
    config.train.population = 2
    with pytest.raises(UserError, match="population"):
        check_config(config)


def test_hvp_through_cpu_tuned_kernels_equals_reference():
    """The tuned kernels' derivative rules (attention, LayerNorm, GELU, dense: the
    Mixer's too) differentiate twice to the reference math's Hessian-vector product."""
    name, fields = TINY["vit"]
    model = create_model(name, **{**fields, "depth": 1}, num_classes=5)
    x = jnp.asarray(images(batch=4))
    variables = random_variables(model, x)
    labels = jnp.arange(4) % 5
    direction = jax.tree.map(
        lambda p: jax.random.normal(jax.random.PRNGKey(7), p.shape), variables["params"]
    )

    def loss(params):
        logits = model.apply({**variables, "params": params}, x, train=False)
        return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, labels))

    def hvp(kernels):
        with use_kernels(kernels):
            return jax.jit(lambda p, v: hessian_vector_product(loss, p, v))(
                variables["params"], direction
            )

    tuned, reference = hvp("cpu_tuned"), hvp("reference")
    for a, b in zip(jax.tree.leaves(tuned), jax.tree.leaves(reference)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=2e-4, atol=2e-5)
