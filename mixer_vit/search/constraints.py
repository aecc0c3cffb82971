"""Constraints on a candidate's cost (parameters, forward FLOPs, latency) and the cost
table that measures each candidate once.

Parameters and FLOPs come from the model's shapes and XLA's cost analysis
(``bench/flops.py``: a multiply-add is 2 FLOPs); latency, only when ``max_latency_ms``
is set, is the median of a few timed jitted forward passes of ``latency_batch`` images
on this machine. Every measurement is appended to ``costs.jsonl`` in the search's
workdir, so a resumed search reads the same numbers (a latency measured again would
differ, and could change which candidates are allowed).
"""

from __future__ import annotations

import dataclasses
import json
import os
import statistics
import time
from collections.abc import Callable, Mapping
from typing import Any

from mixer_vit.errors import UserError

COSTS_FILE = "costs.jsonl"
LATENCY_REPEATS = 5


@dataclasses.dataclass(frozen=True)
class Constraints:
    """Upper limits; 0 is no limit."""

    max_params: int = 0
    max_gflops: float = 0.0
    max_latency_ms: float = 0.0
    latency_batch: int = 64

    @classmethod
    def from_config(cls, values: Mapping[str, Any], where: str) -> "Constraints":
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - fields)
        if unknown:
            raise UserError(f"search config {where}: constraints has no key {unknown[0]}; "
                            f"its keys are {', '.join(sorted(fields))}")
        for key, value in values.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise UserError(f"search config {where}: constraints.{key} must be a number "
                                f">= 0 (0: no limit), got {value!r}")
        if values.get("latency_batch", 1) < 1:
            raise UserError(f"search config {where}: constraints.latency_batch must be >= 1")
        return cls(**values)

    @property
    def measures_latency(self) -> bool:
        return self.max_latency_ms > 0

    def violation(self, cost: Mapping[str, float]) -> str | None:
        """The first limit ``cost`` exceeds, in words, or None."""
        if self.max_params and cost["params"] > self.max_params:
            return f"{cost['params']:,} params > max_params {self.max_params:,}"
        if self.max_gflops and cost["gflops"] > self.max_gflops:
            return f"{cost['gflops']:.4g} GFLOPs > max_gflops {self.max_gflops:g}"
        if self.max_latency_ms and cost["latency_ms"] > self.max_latency_ms:
            return f"{cost['latency_ms']:.3g} ms > max_latency_ms {self.max_latency_ms:g}"
        return None

    def described(self) -> str:
        parts = [f"max_params {self.max_params:,}" if self.max_params else "",
                 f"max_gflops {self.max_gflops:g}" if self.max_gflops else "",
                 f"max_latency_ms {self.max_latency_ms:g} at batch {self.latency_batch}"
                 if self.max_latency_ms else ""]
        return ", ".join(p for p in parts if p) or "none"


CostFunction = Callable[[Mapping[str, Any]], dict]


class CostTable:
    """``cost(name, candidate) -> {"params", "gflops"[, "latency_ms"]}``, measured once by
    ``measure`` and kept in ``directory/costs.jsonl`` (``directory`` None: in memory)."""

    def __init__(self, directory: str | None, measure: CostFunction):
        self.path = os.path.join(directory, COSTS_FILE) if directory else None
        self.measure = measure
        self.known: dict[str, dict] = {}
        if self.path and os.path.isfile(self.path):
            with open(self.path) as f:
                for line in f:
                    if line.strip():
                        row = json.loads(line)
                        self.known[row["name"]] = row["cost"]

    def cost(self, name: str, candidate: Mapping[str, Any]) -> dict:
        if name not in self.known:
            cost = dict(self.measure(candidate))
            self.known[name] = cost
            if self.path:
                with open(self.path, "a") as f:
                    f.write(json.dumps({"name": name, "cost": cost}) + "\n")
        return self.known[name]


def model_cost(model, image_shape: tuple[int, int, int], latency_batch: int | None) -> dict:
    """``{"params": int, "gflops": forward GFLOPs per image}`` of ``model`` on images
    ``[H, W, C]``, plus ``"latency_ms"`` (median jitted forward time of a
    ``[latency_batch, H, W, C]`` batch, compile excluded) when ``latency_batch`` is given."""
    from mixer_vit.bench.flops import forward_flops_per_image, param_count

    cost = {"params": param_count(model, image_shape),
            "gflops": forward_flops_per_image(model, image_shape) / 1e9}
    if latency_batch:
        cost["latency_ms"] = forward_latency_ms(model, image_shape, latency_batch)
    return cost


def forward_latency_ms(model, image_shape: tuple[int, int, int], batch: int) -> float:
    """Median of ``LATENCY_REPEATS`` timed inference forwards of a batch, in ms."""
    import jax
    import jax.numpy as jnp

    images = jnp.zeros((batch, *image_shape), jnp.float32)
    variables = jax.jit(lambda x: model.init(jax.random.PRNGKey(0), x, train=False))(images[:1])
    forward = jax.jit(lambda v, x: model.apply(v, x, train=False))
    forward(variables, images).block_until_ready()  # compile
    times = []
    for _ in range(LATENCY_REPEATS):
        start = time.perf_counter()
        forward(variables, images).block_until_ready()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)
