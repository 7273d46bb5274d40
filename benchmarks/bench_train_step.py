"""One training step, STDBP (event-driven ReL-PSP) vs a ReLU ANN and snnTorch BPTT, side by side.

Both: a 784-800-10 MLP on a latency-encoded MNIST batch of 128 (random pixels if the raw IDX
files are not found under $STDBP_DATA_DIR or ../shared/data), one step = encode + forward +
loss + backward + Adam step.

- STDBP: stdbp_plugin.nn.LatencyEncoder -> ReLPSPLinear(784, 800) -> ReLPSPLinear(800, 10),
  temporal_cross_entropy; exact spike-time gradients, no time steps.
- snnTorch: spikegen.latency(x, num_steps=T, tau=5, threshold=0.01, clip=True, normalize=True,
  linear=True) -> Linear + Leaky(beta=0.95) -> Linear + Leaky, stepped T times (BPTT, surrogate
  gradient), loss ce_rate_loss (default) or ce_temporal_loss, as in the snnTorch tutorials.
- ANN: Linear(784, 800) -> ReLU -> Linear(800, 10), cross-entropy (the same-size network the
  issue's "within 2x of the ANN" compares against); --no-snntorch leaves snnTorch out.

- ``--before REV``: one more STDBP contestant, the same network and seed whose layers run the
  kernel file stdbp_plugin/kernels/numba_cpu.py and the layer function of
  stdbp_plugin/functional/linear.py as they were at git revision REV (loaded from git beside the
  current ones), with contiguous [N_out, N_in] weights and a separate bias where REV's layer
  function predates ReLPSPLinear's one-tensor [1 + N_in, N_out] layout (the same values), for
  a before/after of a kernel or layer change in one run.

The contestants are run alternately (one step each per repeat, order rotated) so that a change in machine load hits
both; the median time of each is reported: wall time, or with ``--clock thread`` (meaningful at
``--threads 1`` only, where all the work runs on the calling thread) that thread's CPU time,
which other processes on a loaded machine do not inflate. Writes
benchmarks/results/train_step.json.

    python benchmarks/bench_train_step.py [--threads 2] [--steps-t 25] [--repeats 9]
    python benchmarks/bench_train_step.py --threads 1 --no-snntorch --clock thread --before REV
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch / numba start OpenMP
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import argparse  # noqa: E402
import contextlib  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import common  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

RESULTS = common.RESULTS_DIR / "train_step.json"


def stdbp_step_fn(hidden: int, old: dict | None = None):
    """One STDBP training step; ``old``: the modules "numba_cpu" and "linear" of an older
    revision, which the layers then use instead of the installed ones (see --before), with
    that revision's parameter layout."""
    from stdbp_plugin import functional as SF
    from stdbp_plugin import nn as snn_e

    net = nn.Sequential(
        snn_e.LatencyEncoder(), snn_e.ReLPSPLinear(784, hidden), snn_e.ReLPSPLinear(hidden, 10)
    )
    if old is not None and not hasattr(old["linear"], "transposed_rows"):
        for layer in net[1:]:  # the layout of the revisions before the one-tensor layout
            layer.weight = nn.Parameter(
                layer.weight.detach().clone(memory_format=torch.contiguous_format)
            )
            layer.bias = nn.Parameter(layer.bias.detach().clone())
    if old is not None:
        old["linear"].resolve_backend = lambda backend, device: old["numba_cpu"]
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)

    @contextlib.contextmanager
    def kernel_in_use():
        if old is None:
            yield
            return
        current = SF.relpsp_linear
        SF.relpsp_linear = old["linear"].relpsp_linear
        try:
            yield
        finally:
            SF.relpsp_linear = current

    def step(x: torch.Tensor, y: torch.Tensor) -> float:
        with kernel_in_use():
            opt.zero_grad()
            loss = SF.temporal_cross_entropy(net(x), y)
            loss.backward()
            opt.step()
        return float(loss.detach())

    return step


def ann_step_fn(hidden: int):
    net = nn.Sequential(nn.Linear(784, hidden), nn.ReLU(), nn.Linear(hidden, 10))
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)

    def step(x: torch.Tensor, y: torch.Tensor) -> float:
        opt.zero_grad()
        loss = nn.functional.cross_entropy(net(x), y)
        loss.backward()
        opt.step()
        return float(loss.detach())

    return step


def snntorch_step_fn(hidden: int, num_steps: int, loss_name: str):
    import snntorch.functional as snn_f
    from bench_compare_frameworks import SnnTorchMLP, latency_spike_train

    net = SnnTorchMLP(hidden)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    loss_fn = snn_f.ce_rate_loss() if loss_name == "rate" else snn_f.ce_temporal_loss()

    def step(x: torch.Tensor, y: torch.Tensor) -> float:
        spikes = latency_spike_train(x, num_steps)
        opt.zero_grad()
        loss = loss_fn(net(spikes), y)
        loss.backward()
        opt.step()
        return float(loss.detach())

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--hidden", type=int, default=800)
    parser.add_argument("--steps-t", type=int, default=25, help="snnTorch time steps T")
    parser.add_argument("--snn-loss", choices=("rate", "temporal"), default="rate")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-snntorch", action="store_true", help="STDBP and the ANN only")
    parser.add_argument("--before", default=None, help="git revision of an older kernel to add")
    parser.add_argument("--clock", choices=("wall", "thread"), default="wall")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    common.set_threads(args.threads)
    torch.manual_seed(args.seed)
    x, y, source = common.mnist_batch(args.batch, args.seed)
    if args.clock == "thread" and args.threads != 1:
        parser.error("--clock thread measures one thread's CPU time: use it with --threads 1")
    torch.manual_seed(args.seed)
    runs = {"stdbp": stdbp_step_fn(args.hidden), "ann": ann_step_fn(args.hidden)}
    if args.before is not None:
        where = Path(tempfile.mkdtemp())
        old = {
            name: common.module_at_revision(args.before, path, where, name)
            for name, path in (
                ("numba_cpu", "stdbp_plugin/kernels/numba_cpu.py"),
                ("linear", "stdbp_plugin/functional/linear.py"),
            )
        }
        torch.manual_seed(args.seed)  # the same initial weights as "stdbp"
        runs["stdbp_before"] = stdbp_step_fn(args.hidden, old)
    if not args.no_snntorch:
        runs["snntorch"] = snntorch_step_fn(args.hidden, args.steps_t, args.snn_loss)
    clock = time.thread_time if args.clock == "thread" else time.perf_counter
    steps = {k: lambda f=f: f(x, y) for k, f in runs.items()}
    times = common.time_interleaved(steps, args.repeats, clock=clock)
    ms = {name: common.median_ms(ts) for name, ts in times.items()}
    result = {
        "network": f"784-{args.hidden}-10",
        "batch": args.batch,
        "input": source,
        "snntorch": None
        if args.no_snntorch
        else {"num_steps": args.steps_t, "loss": f"ce_{args.snn_loss}_loss"},
        "threads": args.threads,
        "repeats": args.repeats,
        "statistic": f"median {'wall' if args.clock == 'wall' else 'CPU (thread)'} time of one "
        "training step, ms (runs interleaved)",
        "before_revision": args.before,
        "step_ms": ms,
        "all_step_ms": {name: [1e3 * t for t in ts] for name, ts in times.items()},
        "stdbp_over_ann": ms["stdbp"] / ms["ann"],
        "machine": common.machine_info(args.threads),
    }
    print(
        f"784-{args.hidden}-10, batch {args.batch}, input {source}, {args.threads} threads, "
        f"load avg {result['machine']['load_avg_1_5_15min'][0]:.1f}"
    )
    print(f"{'STDBP ms':>10}{'ReLU ANN ms':>13}{'STDBP/ANN':>11}", end="")
    if "snntorch" in ms:
        result["speedup_stdbp_over_snntorch"] = ms["snntorch"] / ms["stdbp"]
        print(f"{f'snnTorch T={args.steps_t} ms':>22}{'snnTorch/STDBP':>16}", end="")
    print()
    print(f"{ms['stdbp']:>10.1f}{ms['ann']:>13.1f}{ms['stdbp'] / ms['ann']:>10.2f}x", end="")
    if "snntorch" in ms:
        print(f"{ms['snntorch']:>22.1f}{ms['snntorch'] / ms['stdbp']:>15.1f}x", end="")
    print()
    if "stdbp_before" in ms:
        result["stdbp_before_over_ann"] = ms["stdbp_before"] / ms["ann"]
        result["speedup_now_over_before"] = ms["stdbp_before"] / ms["stdbp"]
        print(
            f"kernel of {args.before[:10]}: {ms['stdbp_before']:.1f} ms = "
            f"{result['stdbp_before_over_ann']:.2f}x the ANN; now "
            f"{result['speedup_now_over_before']:.2f}x faster ({args.clock} clock)"
        )
    common.write_json(args.out, result)


if __name__ == "__main__":
    main()
