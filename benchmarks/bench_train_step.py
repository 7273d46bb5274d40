"""One training step, STDBP (event-driven ReL-PSP) vs snnTorch BPTT, side by side.

Both: a 784-800-10 MLP on a latency-encoded MNIST batch of 128 (random pixels if the raw IDX
files are not found under $STDBP_DATA_DIR or ../shared/data), one step = encode + forward +
loss + backward + Adam step.

- STDBP: stdbp_plugin.nn.LatencyEncoder -> ReLPSPLinear(784, 800) -> ReLPSPLinear(800, 10),
  temporal_cross_entropy; exact spike-time gradients, no time steps.
- snnTorch: spikegen.latency(x, num_steps=T, tau=5, threshold=0.01, clip=True, normalize=True,
  linear=True) -> Linear + Leaky(beta=0.95) -> Linear + Leaky, stepped T times (BPTT, surrogate
  gradient), loss ce_rate_loss (default) or ce_temporal_loss, as in the snnTorch tutorials.

The two are run alternately (one step each, per repeat) so that a change in machine load hits
both; the median wall time of each is reported. Writes benchmarks/results/train_step.json.

    python benchmarks/bench_train_step.py [--threads 2] [--steps-t 25] [--repeats 9]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import torch
from torch import nn

REPO_ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results" / "train_step.json"


def data_dir() -> Path:
    env = os.environ.get("STDBP_DATA_DIR")
    return Path(env) if env else REPO_ROOT.parent / "shared" / "data"


def mnist_batch(batch: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, str]:
    """[batch, 784] pixels in [0, 1] and labels: real MNIST if found, else random."""
    root = data_dir()
    if (root / "MNIST" / "raw" / "train-images-idx3-ubyte").exists():
        from torchvision.datasets import MNIST

        ds = MNIST(root=str(root), train=True, download=False)
        return ds.data[:batch].reshape(batch, -1).float() / 255.0, ds.targets[:batch], "mnist"
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(batch, 784, generator=g)
    x = torch.where(torch.rand(batch, 784, generator=g) < 0.2, x, 0.0)
    return x, torch.randint(0, 10, (batch,), generator=g), "random"


def stdbp_step_fn(hidden: int):
    from stdbp_plugin import functional as SF
    from stdbp_plugin import nn as snn_e

    net = nn.Sequential(
        snn_e.LatencyEncoder(), snn_e.ReLPSPLinear(784, hidden), snn_e.ReLPSPLinear(hidden, 10)
    )
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)

    def step(x: torch.Tensor, y: torch.Tensor) -> float:
        opt.zero_grad()
        loss = SF.temporal_cross_entropy(net(x), y)
        loss.backward()
        opt.step()
        return float(loss.detach())

    return step


def snntorch_step_fn(hidden: int, num_steps: int, loss_name: str):
    import snntorch as snn
    import snntorch.functional as snn_f
    from snntorch import spikegen

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc1, self.lif1 = nn.Linear(784, hidden), snn.Leaky(beta=0.95)
            self.fc2, self.lif2 = nn.Linear(hidden, 10), snn.Leaky(beta=0.95)

        def forward(self, spikes: torch.Tensor) -> torch.Tensor:
            mem1, mem2 = self.lif1.init_leaky(), self.lif2.init_leaky()
            out = []
            for step in range(spikes.shape[0]):
                spk1, mem1 = self.lif1(self.fc1(spikes[step]), mem1)
                spk2, mem2 = self.lif2(self.fc2(spk1), mem2)
                out.append(spk2)
            return torch.stack(out)

    net = Net()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    loss_fn = snn_f.ce_rate_loss() if loss_name == "rate" else snn_f.ce_temporal_loss()

    def step(x: torch.Tensor, y: torch.Tensor) -> float:
        spikes = spikegen.latency(
            x, num_steps=num_steps, tau=5, threshold=0.01, clip=True, normalize=True, linear=True
        )
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
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    import numba

    numba.set_num_threads(min(args.threads, numba.config.NUMBA_NUM_THREADS))
    torch.manual_seed(args.seed)
    x, y, source = mnist_batch(args.batch, args.seed)
    runs = {
        "stdbp": stdbp_step_fn(args.hidden),
        "snntorch": snntorch_step_fn(args.hidden, args.steps_t, args.snn_loss),
    }
    times: dict[str, list[float]] = {name: [] for name in runs}
    for step in runs.values():  # warm-up: JIT compile, allocator
        step(x, y)
    for _ in range(args.repeats):
        for name, step in runs.items():
            start = time.perf_counter()
            step(x, y)
            times[name].append(time.perf_counter() - start)
    ms = {name: 1e3 * statistics.median(ts) for name, ts in times.items()}
    ratio = ms["snntorch"] / ms["stdbp"]
    result = {
        "network": f"784-{args.hidden}-10",
        "batch": args.batch,
        "input": source,
        "snntorch": {"num_steps": args.steps_t, "loss": f"ce_{args.snn_loss}_loss"},
        "threads": args.threads,
        "repeats": args.repeats,
        "statistic": "median wall time of one training step, ms (runs interleaved)",
        "step_ms": ms,
        "all_step_ms": {name: [1e3 * t for t in ts] for name, ts in times.items()},
        "speedup_stdbp_over_snntorch": ratio,
        "machine": {
            "cpu_count": os.cpu_count(),
            "load_avg_1min": os.getloadavg()[0],
            "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "(unset)"),
            "python": platform.python_version(),
            "torch": torch.__version__,
            "numba": numba.__version__,
        },
    }
    print(
        f"784-{args.hidden}-10, batch {args.batch}, input {source}, {args.threads} threads, "
        f"load avg {result['machine']['load_avg_1min']:.1f}"
    )
    print(f"{'STDBP ms':>10}{f'snnTorch T={args.steps_t} ms':>22}{'snnTorch/STDBP':>16}")
    print(f"{ms['stdbp']:>10.1f}{ms['snntorch']:>22.1f}{ratio:>15.1f}x")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
