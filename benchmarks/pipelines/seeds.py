"""The pipelines matrix over several seeds (``bench_pipelines.py --seeds 0,1,2``).

One seed's accuracy on these short budgets is a coin toss (upstream tutorial 6: 51.1% at seed
0, 58.9% at seed 1), so the bar is also read on the mean over seeds: a switched variant meets
it when mean(accuracy) >= mean(upstream accuracy) - margin, over the same seeds. The seed sets
the initial weights (``torch.manual_seed``) and the order of the training batches.
"""

from __future__ import annotations

import statistics

KEPT = ("accuracy", "s_per_epoch", "earliest_tie_fraction")


def record(seed_runs: dict, name: str, variant: str, seed: int, cell: dict) -> None:
    """Keep one run's figures under seed_runs[name][variant][str(seed)] (JSON keys)."""
    if cell.get("status") != "ok":
        entry = {"status": cell.get("status"), "error": cell.get("error") or cell.get("reason")}
    else:
        entry = {k: cell.get(k) for k in KEPT}
    seed_runs.setdefault(name, {}).setdefault(variant, {})[str(seed)] = entry


def _accuracies(runs: dict) -> dict[str, float]:
    return {s: r["accuracy"] for s, r in runs.items() if r.get("accuracy") is not None}


def _mean(values) -> float:
    return statistics.fmean(values)


def render(seed_runs: dict, names, variants, margin: float) -> list[str]:
    """Markdown lines: per pipeline and variant run at 2+ seeds, the accuracy at each seed,
    mean, spread (max - min), the mean's difference to upstream's mean over the SAME seeds,
    and the bar read on the means (accuracy, and s/epoch of the means)."""
    rows = []
    for name in names:
        by_variant = seed_runs.get(name, {})
        up = _accuracies(by_variant.get("upstream", {}))
        for variant in variants:
            acc = _accuracies(by_variant.get(variant, {}))
            if len(acc) < 2:
                continue
            seeds = sorted(acc, key=int)
            values = [acc[s] for s in seeds]
            per_seed = ", ".join(f"{acc[s]:.2f}" for s in seeds)
            mean, spread = _mean(values), max(values) - min(values)
            shared = [s for s in seeds if s in up]
            d_acc, bar = "", ""
            if variant != "upstream" and shared == seeds:
                d = mean - _mean(up[s] for s in seeds)
                speed = _speed(by_variant, variant, seeds)
                misses = (["accuracy"] if d < -margin else []) + (
                    ["speed"] if speed is not None and speed > 1.0 else []
                )
                d_acc = f"{d:+.2f}"
                bar = "yes" if not misses else "no: " + ", ".join(misses)
                bar += f" ({speed:.2f}x)" if speed is not None else ""
            rows.append(
                f"| {name} | {variant} | {','.join(seeds)} | {per_seed} | {mean:.2f} | "
                f"{spread:.2f} | {d_acc} | {bar} |"
            )
    if not rows:
        return []
    return [
        "| pipeline | variant | seeds | accuracy % per seed | mean | spread (max - min) "
        "| mean vs upstream mean | meets bar on the means (s/epoch x upstream) |",
        "|---|---|---|---|---:|---:|---:|---|",
        *rows,
    ]


def _speed(by_variant: dict, variant: str, seeds: list[str]) -> float | None:
    """Mean s/epoch of the variant over the mean of upstream's, on the same seeds."""
    try:
        mine = _mean(by_variant[variant][s]["s_per_epoch"] for s in seeds)
        theirs = _mean(by_variant["upstream"][s]["s_per_epoch"] for s in seeds)
    except (KeyError, TypeError):
        return None
    return mine / theirs if theirs else None
