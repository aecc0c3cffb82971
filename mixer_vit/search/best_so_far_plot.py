"""``best_so_far.png``: the best validation accuracy a search has found after each trial,
one line per search, one colour per strategy (random search against evolution at an
equal budget is read off this plot), the best hand-designed reference dashed."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def plot_best_so_far(searches: list[dict], path: str) -> str:
    """``searches``: dicts with ``strategy``, ``seed``, ``best_so_far`` (one validation
    accuracy per trial) and ``references`` (references.jsonl records). Returns ``path``."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    strategies = sorted({s["strategy"] for s in searches})
    colors = {name: plt.cm.tab10(i % 10) for i, name in enumerate(strategies)}
    styles = ("-", "--", ":", "-.")
    for s in searches:
        curve = [100 * v for v in s["best_so_far"]]
        seeds = sorted(x["seed"] for x in searches if x["strategy"] == s["strategy"])
        ax.step(range(1, len(curve) + 1), curve, where="post", color=colors[s["strategy"]],
                linestyle=styles[seeds.index(s["seed"]) % len(styles)],
                label=f"{s['strategy']}, seed {s['seed']}")
    references = searches[0]["references"] if searches else []
    if references:
        best = max(references, key=lambda r: r["validation_accuracy"])
        ax.axhline(100 * best["validation_accuracy"], color="black", linestyle=(0, (4, 3)),
                   linewidth=1.0, label=f"best reference ({best['label']})")
    ax.set_xlabel("trials")
    ax.set_ylabel("best validation accuracy so far (%)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
