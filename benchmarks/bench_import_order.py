"""STDBP training step vs import order: is the kernel as fast when torch / Lightning come first?

Every measurement is a fresh Python process (the import order decides which OpenMP settings
torch's runtime starts with, so it cannot be changed inside one process). A child imports
`stdbp_plugin`, `torch`, `lightning`, `snntorch` or `norse` first, then builds a 784-800-10
STDBP MLP (LatencyEncoder -> ReLPSPLinear(784, 800) -> ReLPSPLinear(800, 10),
temporal_cross_entropy, Adam), feeds it a random batch of 128 with about 20% active inputs,
sets torch to ``--threads`` threads and times ``--steps`` training steps after 3 warm-up steps.
No environment variable is set for the children (OMP_WAIT_POLICY is removed from theirs).

Two mechanisms are compared:

- ``old``: the kernel's chunks on numba's own thread pool (numba's threading layer, a second
  OpenMP runtime), and ``OMP_WAIT_POLICY=PASSIVE`` set by ``stdbp_plugin`` at import, which
  reaches torch's runtime only when stdbp_plugin is imported before torch (as the package did
  before; the child reproduces it).
- ``new``: the kernel's chunks on torch's own OpenMP team (stdbp_plugin.kernels.torch_team),
  whose idle threads are made to sleep at the first kernel call whatever the import order
  (libgomp's documented short spin when it manages more threads than CPUs); no environment
  variable set by anyone.
- ``new-passive`` (diagnostic, not in the default run): ``new`` plus the old import-time
  ``OMP_WAIT_POLICY=PASSIVE``.

Children are run interleaved, the order of the (mechanism, import order) pairs rotated every
round, ``--rounds`` rounds; each cell reports the median over rounds of each child's median
step time, and the spread (min-max over rounds) says how noisy the machine was. CPU ms is the
process's CPU time per step (all threads): spinning threads show up there as CPU beyond the
wall time x threads actually used.

    python benchmarks/bench_import_order.py [--rounds 5] [--steps 30] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "import_order.json"
ORDERS = ("stdbp", "torch", "lightning", "snntorch", "norse")
MODULE = {"stdbp": "stdbp_plugin"}
MECHANISMS = ("old", "new", "new-passive")


def child(order: str, mechanism: str, steps: int, threads: int, batch: int) -> dict:
    """One measurement, in this (fresh) process. Imports happen here, in the asked order."""
    import importlib

    old_env = mechanism in ("old", "new-passive")
    if old_env and order == "stdbp":
        # what stdbp_plugin/__init__.py did before, at its top: before it imported torch
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    importlib.import_module(MODULE.get(order, order))
    if old_env:
        # ... and when torch came first: too late for torch's OpenMP runtime, still in time
        # for the one numba loads at its first parallel loop
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import torch

    import stdbp_plugin
    from stdbp_plugin import functional as SF
    from stdbp_plugin import nn as snn
    from stdbp_plugin.kernels import numba_cpu

    numba_cpu.PARALLEL = "numba" if mechanism == "old" else "torch"
    torch.set_num_threads(threads)
    g = torch.Generator().manual_seed(0)
    x = torch.rand(batch, 784, generator=g)
    x = torch.where(torch.rand(batch, 784, generator=g) < 0.2, x, 0.0)
    y = torch.randint(0, 10, (batch,), generator=g)
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        snn.LatencyEncoder(), snn.ReLPSPLinear(784, 800), snn.ReLPSPLinear(800, 10)
    )
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)

    def step() -> None:
        opt.zero_grad()
        SF.temporal_cross_entropy(net(x), y).backward()
        opt.step()

    for _ in range(3):
        step()
    wall, cpu = [], []
    for _ in range(steps):
        w0, c0 = time.perf_counter(), time.process_time()
        step()
        wall.append(time.perf_counter() - w0)
        cpu.append(time.process_time() - c0)
    return {
        "step_ms": 1e3 * statistics.median(wall),
        "cpu_ms": 1e3 * statistics.median(cpu),
        "load_1min": os.getloadavg()[0],
        "omp_wait_policy_at_end": os.environ.get("OMP_WAIT_POLICY", "(unset)"),
        "stdbp_plugin": stdbp_plugin.__file__,
    }


def run_child(order: str, mechanism: str, args: argparse.Namespace) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    cmd = [sys.executable, __file__, "--child", order, mechanism]
    cmd += ["--steps", str(args.steps), "--threads", str(args.threads), "--batch", str(args.batch)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    if proc.returncode != 0:
        raise RuntimeError(f"child {order}/{mechanism} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", nargs=2, metavar=("ORDER", "MECHANISM"), help=argparse.SUPPRESS)
    parser.add_argument("--orders", default="stdbp,torch,lightning", help=f"of {ORDERS}")
    parser.add_argument("--mechanisms", default="old,new", help=f"of {MECHANISMS}")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(*args.child, args.steps, args.threads, args.batch)))
        return

    orders = [o for o in args.orders.split(",") if o]
    mechanisms = [m for m in args.mechanisms.split(",") if m]
    for name, allowed in ((orders, ORDERS), (mechanisms, MECHANISMS)):
        bad = set(name) - set(allowed)
        if bad:
            parser.error(f"unknown {sorted(bad)}; choose from {allowed}")
    cells = [(m, o) for o in orders for m in mechanisms]
    runs: dict[tuple[str, str], list[dict]] = {cell: [] for cell in cells}
    loads = [os.getloadavg()[0]]
    for r in range(args.rounds):
        for cell in cells[r % len(cells) :] + cells[: r % len(cells)]:
            runs[cell].append(run_child(cell[1], cell[0], args))
            print(f"round {r + 1} {cell[0]:>3} {cell[1]:>9}: {runs[cell][-1]['step_ms']:7.1f} ms")
        loads.append(os.getloadavg()[0])

    def stat(cell: tuple[str, str], key: str) -> tuple[float, float, float]:
        values = [run[key] for run in runs[cell]]
        return statistics.median(values), min(values), max(values)

    print(
        f"\n784-800-10 STDBP training step, batch {args.batch}, {args.threads} torch threads, "
        f"{args.rounds} rounds x {args.steps} steps, {os.cpu_count()} CPUs, "
        f"load avg (1 min) {min(loads):.1f}-{max(loads):.1f} during the run"
    )
    print("median of per-process median ms/step (min-max over rounds); CPU ms = all threads")
    header = f"{'imported first':<16}"
    for m in mechanisms:
        header += f"{m + ' ms/step':>24}{m + ' CPU ms':>12}"
    if mechanisms == ["old", "new"]:
        header += f"{'old/new':>9}"
    print(header)
    base = {m: stat((m, orders[0]), "step_ms")[0] for m in mechanisms}
    for o in orders:
        line = f"{o:<16}"
        for m in mechanisms:
            med, lo, hi = stat((m, o), "step_ms")
            line += f"{med:>8.1f} ({lo:6.1f}-{hi:6.1f}){stat((m, o), 'cpu_ms')[0]:>12.1f}"
        if mechanisms == ["old", "new"]:
            line += f"{stat(('old', o), 'step_ms')[0] / stat(('new', o), 'step_ms')[0]:>8.2f}x"
        print(line)
    print(
        "vs imported first "
        + orders[0]
        + ": "
        + ", ".join(
            f"{m} {o} {stat((m, o), 'step_ms')[0] / base[m]:.2f}x"
            for m in mechanisms
            for o in orders[1:]
        )
    )
    result = {
        "network": "784-800-10 STDBP, Adam, temporal_cross_entropy",
        "batch": args.batch,
        "threads": args.threads,
        "rounds": args.rounds,
        "steps": args.steps,
        "cpu_count": os.cpu_count(),
        "load_avg_1min_min_max": [min(loads), max(loads)],
        "statistic": "median over rounds of each fresh process's median step time",
        "step_ms": {m: {o: stat((m, o), "step_ms")[0] for o in orders} for m in mechanisms},
        "cpu_ms": {m: {o: stat((m, o), "cpu_ms")[0] for o in orders} for m in mechanisms},
        "runs": {f"{m}/{o}": runs[(m, o)] for m, o in cells},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
