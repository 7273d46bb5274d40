"""Scaling of one training step: STDBP (and the ReLU ANN) vs hidden width and batch size, the
snnTorch / Norse BPTT baselines vs the number of time steps T.

Same contestants, timing and memory measurement as bench_compare_frameworks.py (median wall
time with every configuration of a sweep interleaved; peak RSS growth of one step and bytes
saved for backward, each configuration in a fresh subprocess). Sweeps (784-H-10, MNIST):

- width: H in --widths (default 100..3200), batch 128: stdbp, ann
- batch: B in --batches (default 16..512), H = 800: stdbp, ann
- steps: T in --steps (default 10, 25, 50, 100), H = 800, batch 128: snntorch, norse
  (stdbp and ann, which have no T, as reference lines)

Writes benchmarks/results/scaling.json and benchmarks/results/scaling.png.

    python benchmarks/bench_scaling.py [--threads 2] [--repeats 5] [--no-memory] [--plot-only]
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch / numba start OpenMP
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import argparse  # noqa: E402
import json  # noqa: E402
from pathlib import Path  # noqa: E402

import bench_compare_frameworks as fw  # noqa: E402
import common  # noqa: E402
import torch  # noqa: E402

RESULTS = common.RESULTS_DIR / "scaling.json"


def sweep(configs: list[dict], key: str, repeats: int, memory: bool) -> list[dict]:
    """Time all ``configs`` interleaved, then (optionally) the memory of each in a subprocess."""
    names = [
        fw.label(c) if key == "num_steps" else f"{fw.label(c)} {key}={c[key]}" for c in configs
    ]
    steps = {name: fw.make_step(c) for name, c in zip(names, configs, strict=True)}
    times = common.time_interleaved(steps, repeats, configs[0]["device"])
    rows = []
    for c, name in zip(configs, steps, strict=True):
        row = {"config": c, "median_ms": common.median_ms(times[name])}
        if memory:
            row.update(common.memory_in_subprocess(Path(fw.__file__), c))
        print(
            f"  {name:<28}{row['median_ms']:>9.1f} ms"
            + (f"{row['peak_mib']:>9.1f} MiB peak" if memory else ""),
            flush=True,
        )
        rows.append(row)
    return rows


def series(rows: list[dict], model: str, key: str, value: str) -> tuple[list, list]:
    picked = [r for r in rows if r["config"]["model"] == model]
    return [r["config"][key] for r in picked], [r.get(value, float("nan")) for r in picked]


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker  # noqa: F401  (matplotlib.ticker below)

    fig, axes = plt.subplots(2, 3, figsize=(13, 7))
    panels = (
        ("width", "hidden", "hidden width H (batch 128)", ("stdbp", "ann")),
        ("batch", "batch", "batch size (H = 800)", ("stdbp", "ann")),
        ("steps", "num_steps", "time steps T (H = 800, batch 128)", ("snntorch", "norse")),
    )
    for col, (name, key, xlabel, models) in enumerate(panels):
        rows = result["sweeps"][name]
        for row_i, (value, ylabel) in enumerate(
            (("median_ms", "ms per training step"), ("peak_mib", "peak memory of a step (MiB)"))
        ):
            ax = axes[row_i, col]
            for model in models:
                xs, ys = series(rows, model, key, value)
                ax.plot(xs, ys, marker="o", label=model)
            if name == "steps":
                for ref, style in (("stdbp", "--"), ("ann", ":")):
                    y = result["reference_at_800_128"][ref].get(value)
                    if y is not None:
                        ax.axhline(y, linestyle=style, color="k", label=f"{ref} (no T)")
            ax.set(xscale="log", yscale="log", xlabel=xlabel, ylabel=ylabel)
            ax.set_xticks(sorted({r["config"][key] for r in rows}))
            ax.xaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
            ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
            ax.grid(alpha=0.3, which="both")
            ax.legend(fontsize=8)
    fig.suptitle(
        f"One Adam step, 784-H-10, {result['machine']['threads']} threads "
        f"({result['machine']['device']}, load avg {result['machine']['load_avg_1_5_15min'][0]:.1f})"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"wrote {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--widths", type=int, nargs="+", default=[100, 200, 400, 800, 1600, 3200])
    parser.add_argument("--batches", type=int, nargs="+", default=[16, 32, 64, 128, 256, 512])
    parser.add_argument("--steps", type=int, nargs="+", default=[10, 25, 50, 100])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-memory", action="store_true", help="time only (faster)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--plot-only", action="store_true", help="redraw the PNG from --out")
    args = parser.parse_args()
    if args.plot_only:
        return plot(json.loads(args.out.read_text()), args.out.with_suffix(".png"))

    fw.quiet_imports()
    common.set_threads(args.threads)
    memory = not args.no_memory
    base = {"hidden": 800, "batch": 128, "device": args.device, "seed": 0}
    base["threads"] = args.threads
    info_before = common.machine_info(args.threads, args.device)
    print(common.load_line(info_before))
    models = ("stdbp", "ann")
    sweeps = {}
    print("width sweep (batch 128)")
    sweeps["width"] = sweep(
        [{**base, "model": m, "hidden": h} for h in args.widths for m in models],
        "hidden",
        args.repeats,
        memory,
    )
    print("batch sweep (H = 800)")
    sweeps["batch"] = sweep(
        [{**base, "model": m, "batch": b} for b in args.batches for m in models],
        "batch",
        args.repeats,
        memory,
    )
    print("time-step sweep (H = 800, batch 128)")
    sweeps["steps"] = sweep(
        [{**base, "model": m, "num_steps": t} for t in args.steps for m in ("snntorch", "norse")],
        "num_steps",
        args.repeats,
        memory,
    )
    reference = {}
    for model in models:  # stdbp / ann at H = 800, batch 128, from the width sweep if there
        at = [r for r in sweeps["width"] if r["config"]["model"] == model]
        at = [r for r in at if r["config"]["hidden"] == 800]
        reference[model] = {k: v for k, v in at[0].items() if k != "config"} if at else {}
    info = common.machine_info(args.threads, args.device)
    print(f"after: {common.load_line(info)}")
    result = {
        "network": "784-H-10",
        "input": common.mnist_batch(1)[2],
        "repeats": args.repeats,
        "time": "median wall time of one training step, ms, configurations of a sweep interleaved",
        "memory": common.step_memory.__doc__.split("\n\n", 1)[1].strip() if memory else None,
        "sweeps": sweeps,
        "reference_at_800_128": reference,
        "machine_before": info_before,
        "machine": info,
    }
    common.write_json(args.out, result)
    plot(result, args.out.with_suffix(".png"))


if __name__ == "__main__":
    main()
