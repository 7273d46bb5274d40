"""A Norse MLP on latency-coded MNIST, converted to ReL-PSP, under two readouts, with and
without the output layer's revival of silent neurons.

    SequentialState(Lift(Linear(784, 200)), LIF(), Lift(Linear(200, 10)), LIF())
    -> stdbp.convert(mode="clock", silent_grad=...)

Readouts: "time-weighted" scores each output spike by exp(-k / 10) and takes the cross-entropy
of the summed scores (a common Norse pattern); "first-spike" is temporal_cross_entropy over
the first-spike times in steps (FirstSpikeTimeDecoder, tau 2 steps, keep_target_alive).

    python benchmarks/readout_norse_mnist.py [--train 4000] [--test 1000] [--epochs 2]
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import norse.torch as norse
import torch
from torch import nn

import stdbp_plugin as stdbp
from stdbp_plugin.data import load_dataset
from stdbp_plugin.functional import temporal_cross_entropy
from stdbp_plugin.norse import FirstSpikeTimeDecoder

T, DT = 30, 1e-3
RESULTS = Path(__file__).parent / "results" / "readout_norse_mnist.json"


def encode(x: torch.Tensor) -> torch.Tensor:
    """Latency code over T steps: bright pixels early, x < 0.2 never."""
    k = ((1 - x) * (T - 1)).round().long()
    spikes = torch.zeros(T, *x.shape)
    spikes.scatter_(0, k.unsqueeze(0), 1.0)
    spikes[:, x < 0.2] = 0
    return spikes


def run(readout: str, silent_grad: float, data, epochs: int, seed: int = 0) -> dict:
    torch.manual_seed(seed)
    (x_train, y_train), (x_test, y_test) = data
    net = norse.SequentialState(
        norse.Lift(nn.Linear(784, 200)), norse.LIF(), norse.Lift(nn.Linear(200, 10)), norse.LIF()
    )
    net = stdbp.convert(net, mode="clock", silent_grad=silent_grad)
    optimizer = torch.optim.Adam(net.parameters(), 1e-3)
    ramp = torch.exp(-torch.arange(T).float() / 10).view(-1, 1, 1)
    first_spike = FirstSpikeTimeDecoder(dt=DT)

    def scores(z):
        if readout == "time-weighted":
            return (z * ramp).sum(0)
        return -torch.nan_to_num(first_spike(z) / DT, posinf=float(T))

    def loss_fn(z, y):
        if readout == "time-weighted":
            return nn.functional.cross_entropy(scores(z), y)
        return temporal_cross_entropy(first_spike(z) / DT, y, tau=2.0, keep_target_alive=1.0)

    start = time.perf_counter()
    for _ in range(epochs):
        order = torch.randperm(len(x_train))
        for i in range(0, len(x_train), 32):
            idx = order[i : i + 32]
            z, _ = net(encode(x_train[idx]))
            loss = loss_fn(z, y_train[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    with torch.no_grad():
        z, _ = net(encode(x_test))
    return {
        "readout": readout,
        "silent_grad": silent_grad,
        "accuracy": (scores(z).argmax(1) == y_test).float().mean().item(),
        "outputs_firing": z.sum(0).clamp(max=1).mean().item(),
        "seconds": time.perf_counter() - start,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=str(Path(__file__).parents[2] / "shared" / "data"))
    parser.add_argument("--train", type=int, default=4000)
    parser.add_argument("--test", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    torch.set_num_threads(1)
    train, test = load_dataset("mnist", args.data_dir)
    data = [
        (ds.tensors[0][:n].flatten(1), ds.tensors[1][:n])
        for ds, n in ((train, args.train), (test, args.test))
    ]
    rows = []
    for readout in ("time-weighted", "first-spike"):
        for silent_grad in (0.0, 1.0):
            row = run(readout, silent_grad, data, args.epochs)
            rows.append(row)
            print(
                f"{readout:14s} silent_grad={silent_grad:g}: accuracy {row['accuracy']:.3f}, "
                f"outputs firing {row['outputs_firing']:.2f}, {row['seconds']:.0f} s",
                flush=True,
            )
    RESULTS.write_text(json.dumps({"settings": vars(args), "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
