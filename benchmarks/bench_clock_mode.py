"""Clock-driven ReL-PSP against the LIF it replaces: one training step, side by side.

Each pair runs the same network, data and loss with the upstream neuron and with ours (the
literal class swap, and for snnTorch also ``stdbp.convert(mode="clock")``), interleaved so that
machine noise hits both alike; the table shows median ms per step and the ratio ours / upstream
(< 1: ours is faster).

    python benchmarks/bench_clock_mode.py [--threads 1] [--repeats 7] [--batch 128]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import warnings
from pathlib import Path

import torch
from torch import nn

import stdbp_plugin as stdbp

RESULTS = Path(__file__).parent / "results" / "clock_mode.json"


def _snntorch_mlp(neuron, steps: int):
    class Net(nn.Module):  # snnTorch tutorial 5, explicit state
        def __init__(self):
            super().__init__()
            self.fc1, self.lif1 = nn.Linear(784, 1000), neuron(beta=0.95)
            self.fc2, self.lif2 = nn.Linear(1000, 10), neuron(beta=0.95)

        def forward(self, x):
            mem1, mem2 = self.lif1.init_leaky(), self.lif2.init_leaky()
            rec = []
            for k in range(steps):
                spk1, mem1 = self.lif1(self.fc1(x[k]), mem1)
                spk2, mem2 = self.lif2(self.fc2(spk1), mem2)
                rec.append(spk2)
            return torch.stack(rec)

    return Net()


def _snntorch_cnn(neuron, steps: int):
    from snntorch import utils

    net = nn.Sequential(  # snnTorch tutorial 6, init_hidden
        nn.Conv2d(1, 12, 5), nn.MaxPool2d(2), neuron(beta=0.5, init_hidden=True),
        nn.Conv2d(12, 64, 5), nn.MaxPool2d(2), neuron(beta=0.5, init_hidden=True),
        nn.Flatten(), nn.Linear(64 * 4 * 4, 10), neuron(beta=0.5, init_hidden=True, output=True),
    )  # fmt: skip

    class Loop(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = net

        def forward(self, x):
            utils.reset(self.net)
            return torch.stack([self.net(x[k])[0] for k in range(steps)])

    return Loop()


def _norse_mlp(neuron):
    import norse.torch as norse

    seq = norse.SequentialState(
        norse.Lift(nn.Linear(784, 800)), neuron(), norse.Lift(nn.Linear(800, 10)), neuron()
    )

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.seq = seq

        def forward(self, x):
            return self.seq(x)[0]

    return Net()


def _norse_cells(cell):
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1, self.c1, self.fc2, self.c2 = (
                nn.Linear(784, 800),
                cell(),
                nn.Linear(800, 10),
                cell(),
            )

        def forward(self, x):
            s1 = s2 = None
            out = []
            for k in range(x.shape[0]):
                z, s1 = self.c1(self.fc1(x[k]), s1)
                z, s2 = self.c2(self.fc2(z), s2)
                out.append(z)
            return torch.stack(out)

    return Net()


def _pairs(batch: int):
    import norse.torch as norse
    import snntorch as snn

    from stdbp_plugin import norse as rn
    from stdbp_plugin import snntorch as rs

    mlp_in = (torch.rand(25, batch, 784) < 0.1).float()
    cnn_in = torch.rand(25, batch, 1, 28, 28).lt(0.1).float()
    norse_in = (torch.rand(32, batch, 784) < 0.1).float()
    lif_mlp = _snntorch_mlp(snn.Leaky, 25)
    lif_cnn = _snntorch_cnn(snn.Leaky, 25)
    return [
        ("snnTorch tutorial-5 MLP, swap", lif_mlp, _snntorch_mlp(rs.ReLPSP, 25), mlp_in),
        ("snnTorch tutorial-5 MLP, convert", lif_mlp, stdbp.convert(lif_mlp), mlp_in),
        ("snnTorch tutorial-6 CNN, swap", lif_cnn, _snntorch_cnn(rs.ReLPSP, 25), cnn_in),
        ("Norse LIF sequence MLP", _norse_mlp(norse.LIF), _norse_mlp(rn.ReLPSP), norse_in),
        ("Norse LIFCell loop MLP", _norse_cells(norse.LIFCell), _norse_cells(rn.ReLPSPCell), norse_in),
    ]  # fmt: skip


def _step(net, x) -> float:
    start = time.perf_counter()
    out = net(x)
    weights = torch.arange(out.shape[0], dtype=out.dtype).view(-1, *([1] * (out.ndim - 1)))
    (out * weights).sum().backward()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--batch", type=int, default=128)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    warnings.simplefilter("ignore")
    rows = []
    print(f"{'pipeline':36s} {'upstream ms':>12s} {'ReL-PSP ms':>11s} {'ratio':>6s}")
    for name, upstream, ours, x in _pairs(args.batch):
        _step(upstream, x), _step(ours, x)  # warm-up (numba compiles, caches fill)
        times = {"upstream": [], "ours": []}
        for _ in range(args.repeats):
            times["upstream"].append(_step(upstream, x))
            times["ours"].append(_step(ours, x))
        up, us = (statistics.median(times[k]) * 1e3 for k in ("upstream", "ours"))
        rows.append({"pipeline": name, "upstream_ms": up, "relpsp_ms": us, "ratio": us / up})
        print(f"{name:36s} {up:12.1f} {us:11.1f} {us / up:6.2f}", flush=True)
    RESULTS.parent.mkdir(exist_ok=True)
    meta = {"threads": args.threads, "batch": args.batch, "repeats": args.repeats}
    RESULTS.write_text(json.dumps({"settings": meta, "rows": rows}, indent=1))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
