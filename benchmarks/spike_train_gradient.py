"""The issue's measurement of the gradient a loss sends through a converted snnTorch neuron's
spike train, against the same loss written on the exact spike times (float64).

nn.Linear(50, 10) + snn.Leaky(init_hidden=True, output=True) -> stdbp.convert(mode="clock"),
30 steps of latency-coded input, loss sum_k k * spk_k * g with a random g per (sample, neuron);
reference: sum (t* / dt) * g on ``neuron.spike_time``. Prints the cosine of the two weight
gradients with all spikes and without the neurons that spike in the window's last step (whose
gradient is the loss's jump by design, docs/frameworks.md), for plain STDBP (silent_grad=0) and
for convert's default revival of silent outputs, stepped with init_hidden and with explicit state.

    python benchmarks/spike_train_gradient.py
"""

from __future__ import annotations

import warnings

import snntorch as snn
import torch
from snntorch import spikegen
from torch import nn

import stdbp_plugin as stdbp

T = 30


def measure(silent_grad: float | None, explicit: bool, seed: int = 0) -> dict[str, float]:
    torch.manual_seed(seed)
    net = nn.Sequential(
        nn.Linear(50, 10), snn.Leaky(beta=0.9, init_hidden=not explicit, output=True)
    ).double()
    kwargs = {} if silent_grad is None else {"silent_grad": silent_grad}
    conv = stdbp.convert(net, mode="clock", **kwargs)
    with torch.no_grad():
        conv[0].weight.mul_(3).add_(0.05)
    x = spikegen.latency(torch.rand(64, 50), num_steps=T, normalize=True, linear=True).double()
    g = torch.randn(64, 10, dtype=torch.float64)
    steps = torch.arange(T, dtype=torch.float64).view(-1, 1, 1)
    rec = []
    if explicit:
        mem = conv[1].init_leaky()
        for k in range(T):
            spk, mem = conv[1](conv[0](x[k]), mem)
            rec.append(spk)
    else:
        for k in range(T):
            rec.append(conv(x[k])[0])
    spikes = torch.stack(rec)
    t = conv[1].spike_time
    fired = torch.isfinite(t)
    last = fired & (t >= T - 1)
    out = {"fired": int(fired.sum()), "last_step": int(last.sum())}
    for name, weight in (("all", g), ("no_last_step", torch.where(last, 0.0, g))):
        loss = (steps * spikes * weight).sum()
        train = torch.autograd.grad(loss, conv[0].weight, retain_graph=True)[0]
        exact = torch.autograd.grad(
            (torch.where(fired, t, 0.0) * weight).sum(), conv[0].weight, retain_graph=True
        )[0]
        cos = nn.functional.cosine_similarity(train.flatten(), exact.flatten(), 0)
        out[name] = float(cos)
    return out


def main() -> None:
    warnings.simplefilter("ignore")
    for silent_grad, label in ((0.0, "plain STDBP (silent_grad=0)"), (None, "convert default")):
        for explicit in (False, True):
            r = measure(silent_grad, explicit)
            state = "explicit state" if explicit else "init_hidden"
            print(
                f"{label:28s} {state:14s}: {r['fired']} spikes, {r['last_step']} in the last "
                f"step; cosine all {r['all']:.4f}, without last-step spikes "
                f"{r['no_last_step']:.4f}"
            )


if __name__ == "__main__":
    main()
