"""A clock-driven reference simulator of NIR graphs, written from the NIR node equations.

Forward Euler with step dt; spikes are Dirac impulses: a spike in step k is a current of 1/dt
during that step. Per step k, along the graph's chain:

    Linear / Affine / Conv2d:  y = W x (+ b)            SumPool2d: window sums    Flatten
    I:   v += dt r x,  output v                          (the integrated current)
    IF:  v += dt r x;  z = [v > v_threshold];  v = v_reset where z;  output z / dt

It knows only the nodes of ``export(compat="exact")``; it exists to check that export against
the NIR definitions independently of the event-driven kernel.
"""

from __future__ import annotations

import nir
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from stdbp_plugin.functional.validation import check_dt, check_spike_trains
from stdbp_plugin.nir.load import _chain, _pair


def _t(x, like: Tensor) -> Tensor:
    if isinstance(x, Tensor):
        return x.to(like)
    return torch.as_tensor(np.asarray(x, dtype=np.float64), dtype=like.dtype, device=like.device)


def simulate(graph: nir.NIRGraph, spikes: Tensor, dt: float) -> Tensor:
    """Output spikes [T, B, ...] (float64) of the graph for input spike trains ``spikes``
    [T, B, ...] (any dtype, bool included; each step is cast to float64 on its own)."""
    check_dt(dt)
    check_spike_trains(spikes, "spikes", 3)
    chain = _chain(graph)
    like = torch.zeros((), dtype=torch.float64, device=spikes.device)  # dtype / device of the run
    cache: dict[tuple[str, str], Tensor] = {}

    def p(name: str, node, attr: str) -> Tensor:  # node parameters as float64 tensors, once
        if (name, attr) not in cache:
            cache[(name, attr)] = _t(getattr(node, attr), like)
        return cache[(name, attr)]

    state: dict[str, Tensor] = {}
    outs = []
    for k in range(spikes.shape[0]):
        x = spikes[k].to(torch.float64) / dt
        for name, node in chain:
            if isinstance(node, (nir.Linear, nir.Affine)):
                x = x @ p(name, node, "weight").T
                if isinstance(node, nir.Affine):
                    x = x + p(name, node, "bias")
            elif isinstance(node, nir.Conv2d):
                x = F.conv2d(
                    x,
                    p(name, node, "weight"),
                    p(name, node, "bias"),
                    _pair(node.stride, "stride"),
                    _pair(node.padding, "padding"),
                )
            elif isinstance(node, nir.SumPool2d):
                kh, kw = _pair(node.kernel_size, "kernel_size")
                x = F.avg_pool2d(x, (kh, kw), _pair(node.stride, "stride")) * (kh * kw)
            elif isinstance(node, nir.Flatten):
                start, end = int(node.start_dim), int(node.end_dim)
                x = x.flatten(start + 1 if start >= 0 else start, end + 1 if end >= 0 else end)
            elif isinstance(node, nir.I):
                v = state.get(name, torch.zeros_like(x)) + dt * p(name, node, "r") * x
                state[name] = v
                x = v
            elif isinstance(node, nir.IF):
                v = state.get(name, torch.zeros_like(x)) + dt * p(name, node, "r") * x
                z = v > p(name, node, "v_threshold")
                state[name] = torch.where(z, p(name, node, "v_reset").expand_as(v), v)
                x = z.to(like.dtype) / dt
            else:
                raise ValueError(
                    f"simulate: node {name!r} ({type(node).__name__}) is not one of the nodes of "
                    "export(compat='exact') (Linear, Affine, Conv2d, SumPool2d, Flatten, I, IF)"
                )
        outs.append(x * dt)
    return torch.stack(outs)


def first_spike_steps(spikes: Tensor) -> Tensor:
    """Index of each neuron's first spike in [T, B, ...] trains; T where it never spikes."""
    check_spike_trains(spikes, "spikes", 1)
    fired = spikes != 0
    first = fired.to(torch.uint8).argmax(0)
    return torch.where(fired.any(0), first, torch.full_like(first, spikes.shape[0]))
