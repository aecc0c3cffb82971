"""Grain batching: checkpointable shuffled training batches, padded eval batches.

A *source* is anything with ``__len__`` and ``__getitem__(int) -> example``:
a TFDS data source from ``open_source``, a grain ``MapDataset``, a list.

Sharding over hosts: the global batch of ``global_batch_size`` rows is cut
into ``process_count`` equal slices and host ``process_index`` reads only its
slice, so every batch yielded here is ``[global_batch_size // process_count,
...]`` (the whole batch on one host), ready for
``jax.make_array_from_process_local_data``.
"""

from __future__ import annotations

import functools
import math
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import grain
import numpy as np
from absl import flags

from mixer_vit.data.preprocess import to_float_image

Example = Mapping[str, Any]
Preprocess = Callable[[Example], dict[str, np.ndarray]]
Batch = dict[str, np.ndarray]


def epoch_order(seed: int, epoch: int, num_examples: int) -> np.ndarray:
    """The example order of one training epoch: int64 ``[num_examples]``.

    A permutation drawn from ``np.random.default_rng([seed, epoch])``, so every
    (seed, epoch) pair gets its own independent stream.
    """
    return np.random.default_rng([seed, epoch]).permutation(num_examples)


def read_examples(source: Sequence[Example], indices: Sequence[int]) -> list[Example]:
    """``[source[i] for i in indices]``, batched when the source can.

    TFDS data sources read a batch of records in one call (``__getitems__``).
    """
    indices = [int(i) for i in indices]
    getitems = getattr(source, "__getitems__", None)
    if getitems is not None:
        return list(getitems(indices))
    return [source[i] for i in indices]


def stack_examples(examples: Sequence[Mapping[str, np.ndarray]]) -> Batch:
    """Stacks ``B`` examples of arrays ``[...]`` into one batch of ``[B, ...]``."""
    return {key: np.stack([ex[key] for ex in examples]) for key in examples[0]}


def _read_options(num_threads: int, prefetch_batches: int) -> grain.ReadOptions:
    return grain.ReadOptions(num_threads=num_threads, prefetch_buffer_size=prefetch_batches)


def _check_reader_settings(num_threads: int, prefetch_batches: int, worker_processes: int):
    for name, value in (
        ("num_threads", num_threads),
        ("prefetch_batches", prefetch_batches),
        ("worker_processes", worker_processes),
    ):
        if int(value) < 0:
            raise ValueError(f"{name} must be >= 0, got {value}")


def _read_ahead(
    batches: grain.MapDataset, num_threads: int, prefetch_batches: int, worker_processes: int
) -> grain.IterDataset:
    """``batches`` read ahead by grain: ``num_threads`` threads, ``prefetch_batches`` deep,
    in ``worker_processes`` worker processes when > 0 (each with its own threads)."""
    dataset = batches.to_iter_dataset(_read_options(num_threads, prefetch_batches))
    if worker_processes > 0:
        if not flags.FLAGS.is_parsed():  # grain's workers read its absl flags (defaults)
            flags.FLAGS.mark_as_parsed()
        dataset = dataset.mp_prefetch(grain.MultiprocessingOptions(num_workers=worker_processes))
    return dataset


def _local_batch_size(global_batch_size: int, process_count: int) -> int:
    if global_batch_size <= 0 or global_batch_size % process_count:
        raise ValueError(
            f"global_batch_size={global_batch_size} must be positive and divisible "
            f"by process_count={process_count}"
        )
    return global_batch_size // process_count


class TrainIterator(Iterator[Batch]):
    """Endless (or ``num_epochs``) shuffled training batches.

    Every epoch is reshuffled (``epoch_order(seed, epoch, n)``); its last partial
    batch is dropped, so an epoch is ``steps_per_epoch = len(source) //
    global_batch_size`` batches.

    Args:
      source: random-access examples, e.g. ``{"image": uint8 [H, W, C],
        "label": int []}``.
      global_batch_size: rows per step summed over all processes.
      seed: shuffle seed; same seed, same batches.
      num_epochs: stop after this many epochs; None: never stop.
      preprocess: example -> dict of arrays, applied per example before
        batching (default ``to_float_image``).
      process_index, process_count: this host's slice of each global batch.
      num_threads, prefetch_batches: grain read threads and how many batches
        they read ahead (0 threads: read in the caller's thread).
      worker_processes: > 0 reads batches in that many grain worker processes (for
        decoding-heavy pipelines; the source and functions must pickle).
      augment: ``(example, rng) -> example`` applied before ``preprocess``, with
        ``rng = np.random.default_rng([seed, step, row])`` so batches stay a pure
        function of the step (exact resume).
      repeats: repeated augmentation: each epoch draws ``ceil(n / repeats)`` images and
        shows each ``repeats`` times in a row (differently augmented).

    Yields:
      ``{"image": float32 [B, H, W, C], "label": int32
      [B]}`` with ``B = global_batch_size // process_count`` (for the default
      preprocess), with ``steps_per_epoch``, ``get_state()`` and ``set_state()``.

    Step ``s`` (0-based, counted over all epochs) is batch ``s %
    steps_per_epoch`` of epoch ``s // steps_per_epoch``, read in the order
    ``epoch_order(seed, epoch, len(source))``. A batch is a pure function of the
    step, so the whole state is the step: ``get_state``/``set_state`` restore
    exactly. Batches come from a grain ``MapDataset`` over the steps from the current
    one on, read ahead by grain's threads (and worker processes); ``set_state``
    rebuilds it from the restored step.
    """

    def __init__(
        self,
        source: Sequence[Example],
        *,
        global_batch_size: int,
        seed: int,
        num_epochs: int | None = None,
        preprocess: Preprocess = to_float_image,
        process_index: int = 0,
        process_count: int = 1,
        num_threads: int = 2,
        prefetch_batches: int = 4,
        augment: Callable[[Example, np.random.Generator], Example] | None = None,
        repeats: int = 1,
        worker_processes: int = 0,
    ):
        _check_reader_settings(num_threads, prefetch_batches, worker_processes)
        self._local_batch_size = _local_batch_size(global_batch_size, process_count)
        self._num_examples = len(source)
        if repeats < 1:
            raise ValueError(f"repeats must be >= 1, got {repeats}")
        self._augment = augment
        self._repeats = repeats
        self.steps_per_epoch = self._num_examples // global_batch_size
        if self.steps_per_epoch == 0:
            raise ValueError(
                f"global_batch_size={global_batch_size} exceeds the "
                f"{self._num_examples} training examples (drop_remainder)"
            )
        if num_epochs is not None and num_epochs <= 0:
            raise ValueError(f"num_epochs must be positive or None, got {num_epochs}")
        self._source = source
        self._global_batch_size = global_batch_size
        self._seed = int(seed)
        self._preprocess = preprocess
        self._process_index = process_index
        self._process_count = process_count
        self._epoch_order = self._epoch_order_cache()
        self._fingerprint = {
            "seed": self._seed,
            "global_batch_size": global_batch_size,
            "num_examples": self._num_examples,
            "process_index": process_index,
            "process_count": process_count,
            "repeats": repeats,
        }
        self._total_steps = (
            sys.maxsize if num_epochs is None else num_epochs * self.steps_per_epoch
        )
        self._reader = (num_threads, prefetch_batches, worker_processes)
        self._start_at(0)

    def _start_at(self, step: int) -> None:
        """Reads on from global batch ``step``."""
        steps = grain.MapDataset.range(step, self._total_steps).map(self._batch_at_step)
        self._iterator = iter(_read_ahead(steps, *self._reader))
        self._step = step

    def _epoch_order_cache(self):
        """Per-instance cache; two epochs live at once around an epoch boundary."""
        return functools.lru_cache(maxsize=2)(
            functools.partial(epoch_order, self._seed, num_examples=self._num_examples)
        )

    def __getstate__(self) -> dict[str, Any]:
        """What a grain worker process needs to read batches (no iterator, no cache)."""
        return {k: v for k, v in self.__dict__.items() if k not in ("_iterator", "_epoch_order")}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._epoch_order = self._epoch_order_cache()

    @property
    def step(self) -> int:
        """Number of batches yielded so far (over all epochs)."""
        return self._step

    @property
    def epoch(self) -> int:
        """Epoch of the next batch."""
        return self._step // self.steps_per_epoch

    def _batch_at_step(self, step: int) -> Batch:
        """This host's rows of global batch ``step``: ``[local_batch_size, ...]``."""
        epoch, batch = divmod(step, self.steps_per_epoch)
        start = batch * self._global_batch_size + self._process_index * self._local_batch_size
        order = self._epoch_order(epoch)
        if self._repeats > 1:  # repeated augmentation: fewer images, each seen `repeats` times
            order = np.repeat(order[: -(-len(order) // self._repeats)], self._repeats)[: len(order)]
        indices = order[start : start + self._local_batch_size]
        examples = read_examples(self._source, indices)
        if self._augment is not None:
            examples = [
                self._augment(ex, np.random.default_rng([self._seed, step, start + row]))
                for row, ex in enumerate(examples)
            ]
        return stack_examples([self._preprocess(ex) for ex in examples])

    def __iter__(self) -> TrainIterator:
        return self

    def __next__(self) -> Batch:
        batch = next(self._iterator)
        self._step += 1
        return batch

    def get_state(self) -> dict[str, Any]:
        """Small JSON-serialisable state: the step plus the settings it assumes."""
        return {"step": self._step, **self._fingerprint}

    def set_state(self, state: Mapping[str, Any]) -> None:
        """Continues from ``state`` (from ``get_state`` of a same-config iterator)."""
        mismatched = {
            key: (state.get(key), value)
            for key, value in self._fingerprint.items()
            if state.get(key) != value
        }
        if mismatched:
            raise ValueError(f"Data iterator state does not match (saved, current): {mismatched}")
        self._start_at(int(state["step"]))


class EvalBatches:
    """Every example of ``source`` exactly once, in order, in full-size batches.

    The last batch is padded with zero examples; every batch carries ``"mask"``:
    float32 ``[B]``, 1 for real examples and 0 for padding, so metrics are
    ``sum(metric * mask) / sum(mask)``. ``ceil(len(source) / global_batch_size)``
    batches, e.g. 1001 examples at 64 -> 16 batches whose masks sum to 1001.

    Yields:
      ``{"image": float32 [B, H, W, C], "label": int32 [B],
      "mask": float32 [B]}`` (default preprocess), ``B = global_batch_size //
      process_count``.

    Iterable any number of times; ``len()`` is the number of batches.
    """

    def __init__(
        self,
        source: Sequence[Example],
        *,
        global_batch_size: int,
        preprocess: Preprocess = to_float_image,
        process_index: int = 0,
        process_count: int = 1,
        num_threads: int = 2,
        prefetch_batches: int = 4,
    ):
        _check_reader_settings(num_threads, prefetch_batches, 0)
        self._local_batch_size = _local_batch_size(global_batch_size, process_count)
        self._global_batch_size = global_batch_size
        self._source = source
        self._preprocess = preprocess
        self._process_index = process_index
        self.num_examples = len(source)
        self._num_batches = math.ceil(self.num_examples / global_batch_size)
        batches = grain.MapDataset.range(self._num_batches).map(self._batch)
        self._batches = batches.to_iter_dataset(_read_options(num_threads, prefetch_batches))

    @functools.cached_property
    def _padding(self) -> dict[str, np.ndarray]:
        """A zero example shaped like a preprocessed one."""
        return {k: np.zeros_like(v) for k, v in self._preprocess(self._source[0]).items()}

    def _batch(self, batch: int) -> Batch:
        """This host's rows of eval batch ``batch``, padded, with ``"mask"``."""
        start = batch * self._global_batch_size + self._process_index * self._local_batch_size
        positions = np.arange(start, start + self._local_batch_size)
        real = positions[positions < self.num_examples]
        examples = [self._preprocess(ex) for ex in read_examples(self._source, real)]
        examples += [self._padding] * (self._local_batch_size - len(examples))
        mask = (positions < self.num_examples).astype(np.float32)
        return {**stack_examples(examples), "mask": mask}

    def __len__(self) -> int:
        return self._num_batches

    def __iter__(self) -> Iterator[Batch]:
        return iter(self._batches)


# The public names read as verbs at the call site.
train_batches = TrainIterator
eval_batches = EvalBatches
