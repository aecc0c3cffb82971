"""A trained workdir's model applied to decoded images: eval preprocessing, padded
batches, one jitted forward, softmax; and the top-k of the probabilities."""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from mixer_vit import data
from mixer_vit.errors import UserError
from mixer_vit.train.trained_model import TrainedModel


class Predictor:
    """Class probabilities of uint8 images, ``batch_size`` at a time.

    Every call pads its images to ``batch_size`` rows, so the forward compiles once
    (models evaluated with ``train=False`` treat rows independently: BatchNorm uses its
    running statistics).
    """

    def __init__(self, trained: TrainedModel, batch_size: int):
        self.trained = trained
        self.batch_size = batch_size
        self._variables = jax.device_put(trained.variables)
        model = trained.model

        def forward(variables, images):
            logits = model.apply(variables, images, train=False)
            return jax.nn.softmax(logits.astype(jnp.float32), axis=-1)

        self._forward = jax.jit(forward)

    def preprocess(self, path: str, image: np.ndarray) -> np.ndarray:
        """uint8 ``[H0, W0, C]`` -> float32 ``[H, W, C]`` by the run's eval preprocessing;
        raises ``UserError`` when the result is not the shape the model takes."""
        pixels = np.asarray(self.trained.preprocess({"image": image, "label": 0})["image"])
        if pixels.shape != tuple(self.trained.image_shape):
            raise UserError(
                f"{path} preprocesses to shape {pixels.shape}, the model takes "
                f"{tuple(self.trained.image_shape)}; the run's data.eval_pp must bring every "
                "image to one size (e.g. end it with center_crop(N))"
            )
        return pixels.astype(np.float32)

    def probabilities(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """float32 preprocessed images, at most ``batch_size`` of ``[H, W, C]`` ->
        probabilities float32 ``[len(images), num_classes]`` (rows sum to 1)."""
        count = len(images)
        if not 0 < count <= self.batch_size:
            raise ValueError(f"{count} images for a batch of {self.batch_size}")
        batch = np.zeros((self.batch_size, *self.trained.image_shape), np.float32)
        batch[:count] = np.stack(images)
        return np.asarray(jax.device_get(self._forward(self._variables, batch)))[:count]


def top_k(probabilities: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """probabilities ``[B, K]`` -> (class indices int ``[B, k]``, their probabilities
    ``[B, k]``), most probable first; equal probabilities in class order."""
    order = np.argsort(-probabilities, axis=-1, kind="stable")[:, :k]
    return order, np.take_along_axis(probabilities, order, axis=-1)
