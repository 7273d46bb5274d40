"""Time-first spike trains [T, B, ...] <-> spike-time tensors [B, ...] (first spike; +inf = none).

Step k stands for the time t = k dt. Both directions are differentiable by the hat rule of
docs/design.md, section 2, so that composing them with clock-driven ReL-PSP neurons gives exact
STDBP gradients:

    times_to_spikes:  dL/dt = (dL/ds_{k+1} - dL/ds_k) / dt         (k = floor(t / dt))
    spikes_to_times:  dL/ds_k = -dt * dL/dt at the first-spike step k (the last step T-1 for
                      a silent neuron, as snnTorch's temporal losses count it), 0 elsewhere

(the second is snnTorch's ce_temporal_loss convention; through a hat it gives back dL/dt).
"""

from __future__ import annotations

import torch
from torch import Tensor

from stdbp_plugin.functional.validation import check_dt, check_has_data, check_spike_times


class _SpikesToTimes(torch.autograd.Function):
    @staticmethod
    def forward(ctx, spikes: Tensor, dt: float) -> Tensor:
        active = spikes != 0
        fired = active.any(0)
        first = active.to(torch.uint8).argmax(0)
        ctx.save_for_backward(first, fired)
        ctx.num_steps, ctx.dt = spikes.shape[0], dt
        t = first.to(spikes.dtype) * dt
        return torch.where(fired, t, torch.full_like(t, float("inf")))

    @staticmethod
    def backward(ctx, grad: Tensor):
        first, fired = ctx.saved_tensors
        g = torch.where(torch.isfinite(grad), -grad * ctx.dt, torch.zeros_like(grad))
        # a silent neuron counts as spiking at the last step (snnTorch's convention)
        step = torch.where(fired, first, torch.full_like(first, ctx.num_steps - 1))
        out = grad.new_zeros(ctx.num_steps, *grad.shape)
        out.scatter_(0, step.unsqueeze(0), g.unsqueeze(0))
        return out, None


class _TimesToSpikes(torch.autograd.Function):
    @staticmethod
    def forward(ctx, t: Tensor, num_steps: int, dt: float) -> Tensor:
        finite = torch.isfinite(t)
        k = torch.floor(torch.where(finite, t, torch.zeros_like(t)) / dt).long()
        inside = finite & (k < num_steps)
        k = torch.where(inside, k, torch.full_like(k, num_steps))  # num_steps = off the train
        ctx.save_for_backward(k)
        ctx.num_steps, ctx.dt = num_steps, dt
        steps = torch.arange(num_steps, device=t.device).view(-1, *([1] * t.ndim))
        return (k.unsqueeze(0) == steps).to(t.dtype)

    @staticmethod
    def backward(ctx, grad: Tensor):
        (k,) = ctx.saved_tensors
        padded = torch.cat([grad, grad.new_zeros(2, *grad.shape[1:])])
        g_k = padded.gather(0, k.unsqueeze(0)).squeeze(0)
        g_next = padded.gather(0, (k + 1).unsqueeze(0)).squeeze(0)
        g = torch.where(k < ctx.num_steps, g_next - g_k, torch.zeros_like(g_k))
        return g / ctx.dt, None, None


def spikes_to_times(spikes: Tensor, dt: float = 1.0) -> Tensor:
    """First-spike time of each neuron of a time-first train [T, B, ...]: t = k dt, +inf if silent.

    Any non-zero entry counts as a spike. Backward: dL/ds_k = -dt dL/dt at the first-spike step
    (step T-1 for a silent neuron: a gradient that reaches +inf, e.g. from
    ``temporal_cross_entropy(keep_target_alive=...)``, lands there).
    """
    if not isinstance(spikes, Tensor) or spikes.ndim < 2:
        raise ValueError(
            f"spikes must be a time-first tensor [T, B, ...], got {getattr(spikes, 'shape', spikes)}"
        )
    if spikes.shape[0] == 0 or spikes.shape[1] == 0:
        raise ValueError(f"spikes must have T >= 1 and B >= 1, got shape {tuple(spikes.shape)}")
    check_has_data(spikes, "spikes")
    if not spikes.is_floating_point():
        spikes = spikes.float()
    if not bool(((spikes >= 0) & (spikes < float("inf"))).all()):  # one host read; NaN fails
        raise ValueError("spikes must be finite and >= 0 (0: no spike), got NaN, inf or < 0")
    check_dt(dt)
    return _SpikesToTimes.apply(spikes, float(dt))


def times_to_spikes(t: Tensor, num_steps: int, dt: float = 1.0) -> Tensor:
    """Spike times [B, ...] -> binary train [T, B, ...] with the spike at step floor(t / dt).

    Spikes at or after T dt (and +inf) are dropped. Backward: the hat rule
    dL/dt = (dL/ds_{k+1} - dL/ds_k) / dt (dL/ds_T = 0).
    """
    check_spike_times(t, "t", tuple(range(1, 9)))
    if not (isinstance(num_steps, int) and not isinstance(num_steps, bool) and num_steps >= 1):
        raise ValueError(f"num_steps must be an int >= 1, got {num_steps!r}")
    check_dt(dt)
    return _TimesToSpikes.apply(t, num_steps, float(dt))
