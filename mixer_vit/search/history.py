"""A search's record: ``search.json`` (the settings it was started with) and
``history.jsonl``, one line per finished trial, in order::

    {"step": k, "name": "attention-d2-w64-r4-p2-h2", "candidate": {...},
     "epochs": 2, "rung": 0, "final": true, "origin": {"kind": "mutation", ...},
     "params": 41290, "gflops": 0.0021, "validation_accuracy": 0.91,
     "test_accuracy": 0.90 (null unless final), "trained": true}

Hyperband's records also carry ``"bracket": s`` after ``"rung"`` (the other strategies'
have no such key). A line is written only once its trial has finished, so a killed
search resumes at its first unrecorded step.
"""

from __future__ import annotations

import json
import os

from mixer_vit.errors import UserError

HISTORY_FILE = "history.jsonl"
SEARCH_FILE = "search.json"


def read_history(workdir: str) -> list[dict]:
    path = os.path.join(workdir, HISTORY_FILE)
    if not os.path.isfile(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def append_record(workdir: str, record: dict) -> None:
    with open(os.path.join(workdir, HISTORY_FILE), "a") as f:
        f.write(json.dumps(record) + "\n")
        f.flush()
        os.fsync(f.fileno())


def check_identity(workdir: str, identity: dict) -> None:
    """Writes ``search.json`` in a new search folder; ``UserError`` when the folder holds
    a search started with other settings."""
    identity = json.loads(json.dumps(identity, default=list))
    path = os.path.join(workdir, SEARCH_FILE)
    if os.path.isfile(path):
        with open(path) as f:
            saved = json.load(f)
        if saved != identity:
            changed = sorted(k for k in set(saved) | set(identity)
                             if saved.get(k) != identity.get(k))
            raise UserError(
                f"{workdir} holds a search started with other settings ({changed[0]} "
                f"differs); use a new --workdir or the settings it was started with"
            )
        return
    with open(path, "w") as f:
        json.dump(identity, f, indent=1)
