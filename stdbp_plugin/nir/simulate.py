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

from stdbp_plugin.nir.load import _chain, _pair


def _t(x, like: Tensor) -> Tensor:
    if isinstance(x, Tensor):
        return x.to(like)
    return torch.as_tensor(np.asarray(x, dtype=np.float64), dtype=like.dtype, device=like.device)


def simulate(graph: nir.NIRGraph, spikes: Tensor, dt: float) -> Tensor:
    """Output spikes [T, B, ...] of the graph for input spike trains ``spikes`` [T, B, ...]."""
    if not (isinstance(dt, (int, float)) and dt > 0):
        raise ValueError(f"dt must be a number > 0, got {dt!r}")
    if not isinstance(spikes, Tensor) or spikes.ndim < 3:
        raise ValueError("spikes must be a [T, B, ...] tensor of input spike trains")
    chain = _chain(graph)
    like = spikes.to(torch.float64)
    state: dict[str, Tensor] = {}
    outs = []
    for k in range(spikes.shape[0]):
        x = like[k] / dt
        for name, node in chain:
            if isinstance(node, (nir.Linear, nir.Affine)):
                x = x @ _t(node.weight, like).T
                if isinstance(node, nir.Affine):
                    x = x + _t(node.bias, like)
            elif isinstance(node, nir.Conv2d):
                x = F.conv2d(
                    x,
                    _t(node.weight, like),
                    _t(node.bias, like),
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
                v = state.get(name, torch.zeros_like(x)) + dt * _t(node.r, like) * x
                state[name] = v
                x = v
            elif isinstance(node, nir.IF):
                v = state.get(name, torch.zeros_like(x)) + dt * _t(node.r, like) * x
                z = v > _t(node.v_threshold, like)
                state[name] = torch.where(z, _t(node.v_reset, like).expand_as(v), v)
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
    fired = spikes != 0
    first = fired.to(torch.uint8).argmax(0)
    return torch.where(fired.any(0), first, torch.full_like(first, spikes.shape[0]))
