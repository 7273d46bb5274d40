"""One CNN training step: STDBP 16C5-P2-32C5-P2-800-128-10 (current and an older kernel) vs the
ReLU CNN of the same shape, side by side.

Batch 64 of latency-coded real MNIST (random images with 20% active pixels when the raw IDX
files are absent); one step = encode + forward + loss + backward + Adam step. The older
version (stdbp_plugin/kernels/numba_cpu.py, functional/linear.py and functional/conv.py at git
revision ``--before``) is loaded from git beside the current one, and so is
the same three files of revision ``--unfold`` (the last one that unfolds every receptive field
into a row for the numba kernel, sorted by ``conv_order``; that row shows the direct conv walk of
kernels/numba_conv.py against the unfold path just before it). The contestants are called alternately (one step each per
round, order rotated) and the medians reported.

    python benchmarks/bench_cnn_step.py [--threads 2] [--repeats 7] [--before aaa7dc8]
        [--clock thread]   # at --threads 1: the thread's CPU time (the other jobs' preemption
                           # does not count), else wall time
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import argparse  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import common  # noqa: E402
import torch  # noqa: E402
from profile_kernel import BEFORE, load_revision  # noqa: E402
from torch import nn  # noqa: E402

SPEC = "16C5-P2-32C5-P2-800-128-10"
UNFOLD = "6542fc581c99fc303b075d0fb7728d117bf42f1a"  # conv.py before the direct walk


def old_functions(rev: str, where: Path) -> tuple:
    """relpsp_conv2d and relpsp_linear of revision ``rev``, running on that revision's kernel."""
    mods = load_revision(rev, where, ("numba_cpu", "linear", "conv"))
    kernel, linear, conv = mods["numba_cpu"], mods["linear"], mods["conv"]
    linear.resolve_backend = lambda backend, device: kernel
    for name in ("relpsp_linear", "_ReLPSPLinear", "check_linear_args", "check_values"):
        if hasattr(conv, name):  # what that conv.py imported from linear.py, of that revision
            setattr(conv, name, getattr(linear, name))
    return conv.relpsp_conv2d, linear.relpsp_linear


def stdbp_step(conv2d, linear, x: torch.Tensor, y: torch.Tensor, seed: int):
    from stdbp_plugin import functional as SF
    from stdbp_plugin.lightning.stdbp_network import STDBPNetwork
    from stdbp_plugin.nn import ReLPSPConv2d, ReLPSPLinear

    torch.manual_seed(seed)
    net = STDBPNetwork(SPEC, (1, 28, 28))
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)

    def forward(images: torch.Tensor) -> torch.Tensor:
        t = net.encoder(images.reshape(-1, 1, 28, 28))
        for layer in net.layers:
            if isinstance(layer, ReLPSPConv2d):
                t = conv2d(t, layer.weight, layer.bias, layer.threshold, 1, layer.padding)
            elif isinstance(layer, ReLPSPLinear):
                t = linear(t.flatten(1), layer.weight, layer.bias, layer.threshold)
            else:
                t = layer(t)
        return t

    def step() -> None:
        opt.zero_grad()
        SF.temporal_cross_entropy(forward(x), y).backward()
        opt.step()

    return step


def relu_step(x: torch.Tensor, y: torch.Tensor, seed: int):
    torch.manual_seed(seed)
    net = nn.Sequential(
        nn.Conv2d(1, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(512, 800), nn.ReLU(), nn.Linear(800, 128), nn.ReLU(), nn.Linear(128, 10),
    )  # fmt: skip
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)

    def step() -> None:
        opt.zero_grad()
        nn.functional.cross_entropy(net(x.reshape(-1, 1, 28, 28)), y).backward()
        opt.step()

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--before", default=BEFORE, help="git revision of the older kernel")
    parser.add_argument("--no-before", action="store_true", help="time the current kernel only")
    parser.add_argument(
        "--unfold", default=UNFOLD, help="git revision of conv.py with the unfold path ('' = skip)"
    )
    parser.add_argument("--clock", choices=("wall", "thread"), default="wall")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    if args.clock == "thread" and args.threads != 1:
        parser.error("--clock thread measures one thread's CPU time: use it with --threads 1")
    common.set_threads(args.threads)
    clock = time.thread_time if args.clock == "thread" else time.perf_counter

    from stdbp_plugin.functional import relpsp_conv2d, relpsp_linear

    x, y, source = common.mnist_batch(args.batch, args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        steps = {"stdbp_now": stdbp_step(relpsp_conv2d, relpsp_linear, x, y, args.seed)}
        if not args.no_before:
            old_conv, old_linear = old_functions(args.before, Path(tmp))
            steps["stdbp_before"] = stdbp_step(old_conv, old_linear, x, y, args.seed)
        if args.unfold:
            unfold_conv, unfold_linear = old_functions(args.unfold, Path(tmp))
            steps["stdbp_unfold"] = stdbp_step(unfold_conv, unfold_linear, x, y, args.seed)
        steps["relu_cnn"] = relu_step(x, y, args.seed)
        times = common.time_interleaved(steps, args.repeats, clock=clock)
    ms = {k: common.median_ms(v) for k, v in times.items()}
    load = os.getloadavg()
    print(
        f"{SPEC}, batch {args.batch}, input {source}, {args.threads} thread(s), "
        f"{args.repeats} interleaved repeats, {args.clock} clock, load avg {load[0]:.1f}"
    )
    for name, value in ms.items():
        print(f"{name:<14}{value:>10.1f} ms   {value / ms['relu_cnn']:>6.2f}x the ReLU CNN")
    if "stdbp_before" in ms:
        print(f"before / now: {ms['stdbp_before'] / ms['stdbp_now']:.2f}x")
    if "stdbp_unfold" in ms:
        print(f"unfold / now: {ms['stdbp_unfold'] / ms['stdbp_now']:.2f}x")
    if args.out is not None:
        common.write_json(
            args.out,
            {
                "network": SPEC,
                "batch": args.batch,
                "input": source,
                "threads": args.threads,
                "repeats": args.repeats,
                "before_revision": None if args.no_before else args.before,
                "unfold_revision": args.unfold or None,
                "statistic": f"median {args.clock} time of one training step, ms (interleaved)",
                "clock": "thread_time" if args.clock == "thread" else "perf_counter",
                "step_ms": ms,
                "all_step_ms": {k: [1e3 * t for t in v] for k, v in times.items()},
                "machine": common.machine_info(args.threads),
            },
        )


if __name__ == "__main__":
    main()
