"""results.md's bookkeeping for the strategies with rungs (successive halving: one
bracket; Hyperband: brackets s = s_max .. 0): per bracket and rung, the epochs, the
candidates done of those planned, how many trained (the rest reused an earlier record
of the same candidate and epochs), and the rung's best by validation accuracy."""

from __future__ import annotations

from mixer_vit.search.settings import SearchSettings


def rung_lines(settings: SearchSettings, history: list[dict]) -> list[str]:
    """The section's markdown lines; [] for a strategy without rungs."""
    from mixer_vit.search.strategies import make_strategy

    strategy = make_strategy(settings)
    if not hasattr(strategy, "brackets"):
        return []
    brackets = strategy.brackets()
    hyperband = settings.strategy == "hyperband"
    if hyperband:
        intro = (f"Hyperband (min_epochs {settings.min_epochs}, max_epochs "
                 f"{settings.max_epochs}, eta {settings.eta}, budget {settings.budget}): "
                 f"brackets s = {brackets[0][0]} .. 0 in turn; bracket s starts n_s random "
                 f"candidates at max_epochs / eta^s epochs (rounded down), and each rung "
                 f"keeps the best 1/eta by validation accuracy.")
    else:
        intro = (f"Successive halving (min_epochs {settings.min_epochs}, max_epochs "
                 f"{settings.max_epochs}, eta {settings.eta}, budget {settings.budget}): "
                 f"each rung keeps the best 1/eta by validation accuracy.")
    lines = ["## Brackets and rungs" if hyperband else "## Rungs", "", intro, "",
             ("| bracket s " if hyperband else "") + "| rung | epochs | candidates | trained "
             "| best (val %) |",
             ("|---:" if hyperband else "") + "|---:|---:|---:|---:|---|"]
    for bracket, epochs, sizes in brackets:
        records = [r for r in history if r.get("bracket") == bracket]
        for rung, (rung_epochs, size) in enumerate(zip(epochs, sizes)):
            done = [r for r in records if r["rung"] == rung]
            best = max(done, key=lambda r: (r["validation_accuracy"], -r["step"]), default=None)
            best_cell = ("-" if best is None else
                         f"{best['name']} ({100 * best['validation_accuracy']:.1f})")
            lines.append((f"| {bracket} " if hyperband else "")
                         + f"| {rung} | {rung_epochs} | {len(done)}/{size} | "
                           f"{sum(r['trained'] for r in done)} | {best_cell} |")
    return lines
