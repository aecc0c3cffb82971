"""The labelled set of one strategy x seed loop, and its record ``rounds.jsonl``.

Indices here are always example indices into the pool split (``pool_split`` of the active
config). A loop's candidates are the pool (or its ``pool_size`` subset); its labelled set
is the seed set plus every batch acquired so far, so the record alone rebuilds it: line
``r`` of ``rounds.jsonl`` is round ``r``, finished::

    {"round": r, "labels": |L_r|, "seed_set": [...] (round 0 only), "acquired": [...],
     "validation_accuracy": a, "test_accuracy": b, "seconds": t, ...}

where ``acquired`` is the batch the model trained on ``L_r`` chose (empty in the last
round) and ``L_{r+1} = L_r + acquired``. Every random draw derives from (seed, round), so
a loop killed anywhere resumes at its first unrecorded round and ends with the same
record as a loop never stopped.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence

import numpy as np

RECORD_FILE = "rounds.jsonl"

# Streams of np.random.default_rng([seed, STREAM, ...]): one per kind of draw.
POOL_STREAM, SEED_SET_STREAM, ROUND_STREAM = 1, 2, 3


def pool_candidates(pool_split_size: int, pool_size: int, seed: int) -> np.ndarray:
    """Sorted int64 indices ``[M]`` into the pool split that seed ``seed`` may label: all
    of them (``pool_size`` 0) or a random ``pool_size`` of them."""
    if not pool_size or pool_size >= pool_split_size:
        return np.arange(pool_split_size, dtype=np.int64)
    rng = np.random.default_rng([seed, POOL_STREAM])
    return np.sort(rng.choice(pool_split_size, size=pool_size, replace=False)).astype(np.int64)


def class_balanced_seed_set(
    candidates: np.ndarray, labels: np.ndarray, size: int, seed: int
) -> np.ndarray:
    """``size`` distinct indices from ``candidates`` (int64 [M]) whose ``labels`` (int
    [M]) spread evenly: each class gets ``size // K`` (K the classes present), and the
    ``size % K`` left over go to classes drawn at random; a class with too few members
    gives all it has and the rest come from the others. Sorted int64 [size]."""
    rng = np.random.default_rng([seed, SEED_SET_STREAM])
    classes = np.unique(labels)
    members = {c: rng.permutation(candidates[labels == c]) for c in classes}
    quota = {c: size // len(classes) for c in classes}
    for c in rng.choice(classes, size=size % len(classes), replace=False):
        quota[c] += 1
    chosen = [members[c][: quota[c]] for c in classes]
    short = size - sum(len(part) for part in chosen)
    if short:
        rest = np.concatenate([members[c][quota[c]:] for c in classes])
        chosen.append(rng.choice(rest, size=short, replace=False))
    return np.sort(np.concatenate(chosen)).astype(np.int64)


def round_rng(seed: int, round_index: int) -> np.random.Generator:
    """The generator of round ``round_index``'s acquisition."""
    return np.random.default_rng([seed, ROUND_STREAM, round_index])


def read_records(loop_dir: str) -> list[dict]:
    """The finished rounds of ``loop_dir``, rounds 0, 1, ... in order."""
    path = os.path.join(loop_dir, RECORD_FILE)
    if not os.path.isfile(path):
        return []
    records: list[dict] = []
    with open(path) as f:
        for line in f:
            record = json.loads(line)
            if record.get("round") != len(records):
                raise ValueError(f"{path}: line {len(records) + 1} is not round {len(records)}")
            records.append(record)
    return records


def append_record(loop_dir: str, record: dict) -> None:
    """Adds one finished round to ``rounds.jsonl``: the file is rewritten beside it and
    renamed into place, so a kill leaves the old record or the new one, never half."""
    path = os.path.join(loop_dir, RECORD_FILE)
    records = read_records(loop_dir) + [record]
    partial = path + ".partial"
    with open(partial, "w") as f:
        f.writelines(json.dumps(r) + "\n" for r in records)
        f.flush()
        os.fsync(f.fileno())
    os.replace(partial, path)


def labelled_after(records: Sequence[dict]) -> np.ndarray:
    """The labelled set (int64, in the order labelled) that the round after ``records``
    trains on: the seed set of round 0 plus every round's ``acquired``."""
    if not records:
        return np.zeros(0, dtype=np.int64)
    parts = [records[0]["seed_set"]] + [r["acquired"] for r in records]
    return np.asarray([i for part in parts for i in part], dtype=np.int64)


def check_acquisition(
    acquired: np.ndarray, labelled: np.ndarray, candidates: np.ndarray, expected: int
) -> None:
    """Raises ``AssertionError`` unless ``acquired`` is ``expected`` distinct candidates
    (pool indices) none of which is labelled already: the loop never labels an example
    twice, nor one outside the pool (validation and test are not candidates)."""
    acquired = np.asarray(acquired, dtype=np.int64)
    if acquired.size != expected:
        raise AssertionError(f"acquired {acquired.size} examples, expected {expected}")
    if np.unique(acquired).size != acquired.size:
        raise AssertionError("an acquisition batch repeats an example")
    if np.isin(acquired, labelled).any():
        raise AssertionError("acquired an example that is labelled already")
    if not np.isin(acquired, candidates).all():
        raise AssertionError("acquired an example outside the pool")
