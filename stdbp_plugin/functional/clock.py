"""Clock-driven ReL-PSP dynamics (DESIGN section 2): pure step and whole-sequence functions.

Step k covers [k dt, (k+1) dt); the input current c_k arrives at tau_k = k dt. Per neuron:

    S += c_k,   P += c_k tau_k,   V(t) = S t - P   (ReL-PSP kernel, no leak, no reset)

A neuron that has not fired fires in step k when S > 0 and S tau_{k+1} - P >= theta, at the
exact time t* = (theta + P) / S in (tau_k, tau_{k+1}]; its binary output is 1 at step k only.
Autograd through S and P gives dt*/dc_m = (tau_m - t*) / S. The output spike's backward is the
"hat" of :class:`HatSpike`: dL/dt* = (dL/ds_{k+1} - dL/ds_k) / dt.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

NOT_FIRED = -1


class ClockState(NamedTuple):
    """s: slope S = sum of input currents; p: sum of c_k tau_k; t_spike: exact spike time
    (meaningful where k_spike >= 0); k_spike: step of the spike, -1 = not fired yet;
    k: index of the next step (a Python int or 0-d long tensor)."""

    s: Tensor
    p: Tensor
    t_spike: Tensor
    k_spike: Tensor
    k: int | Tensor


class HatSpike(torch.autograd.Function):
    """s_m = 1 where k_spike == m (else 0); backward: ds_m/dt* = ([k_spike == m-1] - [k_spike == m]) / dt.

    Summed over the steps m this gives dL/dt* = (dL/ds_{k+1} - dL/ds_k) / dt: the spike is
    treated as a hat split between steps k and k+1 (its share of step k+1 is t*/dt - k).
    Optional revival of silent neurons (``silent_grad`` > 0, off by default): a neuron that has
    not fired by step m gets dL/dV_m = silent_grad * min(dL/ds_m, 0) / dt, i.e. only a "fire
    earlier" push on its end-of-step potential V_m (not part of exact STDBP; the 1/dt makes
    the resulting weight update independent of the time unit).
    """

    @staticmethod
    def forward(ctx, t_spike, k_spike, v_end, m: int, dt: float, silent_grad: float):
        ctx.save_for_backward(k_spike)
        ctx.m, ctx.dt, ctx.silent_grad = m, dt, silent_grad
        return (k_spike == m).to(t_spike.dtype)

    @staticmethod
    def backward(ctx, grad: Tensor):
        (k_spike,) = ctx.saved_tensors
        fired = k_spike >= 0
        sign = (fired & (k_spike == ctx.m - 1)).to(grad.dtype) - (k_spike == ctx.m).to(grad.dtype)
        grad_v = None
        if ctx.silent_grad and ctx.needs_input_grad[2]:
            grad_v = torch.where(
                fired, torch.zeros_like(grad), grad.clamp(max=0) * (ctx.silent_grad / ctx.dt)
            )
        return grad * sign / ctx.dt, None, grad_v, None, None, None


class HatSpikeTrain(torch.autograd.Function):
    """Whole train [T, ...]: s_m = [k_spike == m]; dL/dt* = (dL/ds_{k+1} - dL/ds_k) / dt,
    with dL/ds_T = 0 (no step after the last) and steps counted from ``k0``; ``silent_grad``
    as in :class:`HatSpike` for the steps before the spike (or all, if silent)."""

    @staticmethod
    def forward(
        ctx, t_spike, k_spike, v_end, num_steps: int, k0: int, dt: float, silent_grad: float
    ):
        steps = torch.arange(k0, k0 + num_steps, device=k_spike.device)
        steps = steps.view(-1, *([1] * k_spike.ndim))
        ctx.save_for_backward(k_spike, steps)
        ctx.k0, ctx.dt, ctx.silent_grad = k0, dt, silent_grad
        return (k_spike.unsqueeze(0) == steps).to(t_spike.dtype)

    @staticmethod
    def backward(ctx, grad: Tensor):
        k_spike, steps = ctx.saved_tensors
        num_steps = grad.shape[0]
        padded = torch.cat([grad, grad.new_zeros(1, *grad.shape[1:])])
        local = k_spike - ctx.k0  # index of the spike inside this train
        inside = (local >= 0) & (local < num_steps)
        idx = torch.where(inside, local, torch.zeros_like(local)).unsqueeze(0)
        g_k = padded.gather(0, idx).squeeze(0)
        g_next = padded.gather(0, idx + 1).squeeze(0)
        # a spike fired just before this train (local == -1) still owns step 0's gradient
        before = (k_spike >= 0) & (local == -1)
        g_t = torch.where(inside, g_next - g_k, torch.zeros_like(g_k))
        g_t = g_t + torch.where(before, grad[0], torch.zeros_like(g_k))
        grad_v = None
        if ctx.silent_grad and ctx.needs_input_grad[2]:
            not_yet = (k_spike < 0).unsqueeze(0) | (steps < k_spike.unsqueeze(0))
            grad_v = torch.where(
                not_yet, grad.clamp(max=0) * (ctx.silent_grad / ctx.dt), torch.zeros_like(grad)
            )
        return g_t / ctx.dt, None, grad_v, None, None, None, None


def _check_dt(dt: float) -> None:
    if not (isinstance(dt, (int, float)) and dt > 0):
        raise ValueError(f"dt must be a number > 0, got {dt!r}")


def clock_initial_state(like: Tensor) -> ClockState:
    """A fresh state (nothing integrated, nothing fired, next step 0) shaped like ``like``."""
    zeros = torch.zeros_like(like)
    return ClockState(zeros, zeros, zeros, torch.full_like(like, NOT_FIRED, dtype=torch.long), 0)


def _fire(s: Tensor, p: Tensor, tau_next: Tensor | float, threshold: Tensor | float, free: Tensor):
    v_end = s * tau_next - p
    fires = free & (s > 0) & (v_end >= threshold)
    s_safe = torch.where(s > 0, s, torch.ones_like(s))
    return v_end, fires, (threshold + p) / s_safe


def relpsp_clock_step(
    current: Tensor,
    state: ClockState | None,
    threshold: float | Tensor = 1.0,
    dt: float = 1.0,
    silent_grad: float = 0.0,
) -> tuple[Tensor, Tensor, ClockState]:
    """One step k of clock-driven ReL-PSP neurons: returns (spikes s_k, V(tau_{k+1}), new state).

    S += c_k, P += c_k tau_k; fires (once) when S > 0 and S tau_{k+1} - P >= theta, at
    t* = (theta + P) / S. The returned potential keeps following S tau_{k+1} - P after the
    spike (no reset; the neuron is simply silent from then on).
    """
    _check_dt(dt)
    if state is None:
        state = clock_initial_state(current)
    k = int(state.k)
    tau = k * dt
    s = state.s + current
    p = state.p + current * tau
    free = state.k_spike < 0
    v_end, fires, t_new = _fire(s, p, (k + 1) * dt, threshold, free)
    t_spike = torch.where(fires, t_new, state.t_spike)
    k_spike = torch.where(fires, torch.full_like(state.k_spike, k), state.k_spike)
    spikes = HatSpike.apply(t_spike, k_spike, v_end, k, dt, silent_grad)
    return spikes, v_end, ClockState(s, p, t_spike, k_spike, k + 1)


def _cumsum_time(x: Tensor) -> Tensor:
    """cumsum over dim 0, computed along the last dim of a transposed copy (several times
    faster on CPU than ``torch.cumsum(x, 0)``, whose scan over a strided dim is slow)."""
    flat = x.reshape(x.shape[0], -1)
    return torch.cumsum(flat.T.contiguous(), 1).T.contiguous().view(x.shape)


class _TimeCumsum(torch.autograd.Function):
    """y_m = sum_{k<=m} x_k over dim 0; backward: dL/dx_k = sum_{m>=k} g_m = total - cumsum + g."""

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:
        return _cumsum_time(x)

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        return grad.sum(0, keepdim=True) - _cumsum_time(grad) + grad


def relpsp_clock_sequence(
    currents: Tensor,
    state: ClockState | None,
    threshold: float | Tensor = 1.0,
    dt: float = 1.0,
    silent_grad: float = 0.0,
) -> tuple[Tensor, Tensor, ClockState]:
    """The same as stepping :func:`relpsp_clock_step` over dim 0 of ``currents`` [T, ...],
    without a Python loop: cumsum over time, the crossing test, the first crossing step,
    the closed form t* = (theta + P_k) / S_k. Returns (spikes [T, ...], V [T, ...], state)."""
    _check_dt(dt)
    if not isinstance(currents, Tensor) or currents.ndim < 1 or currents.shape[0] == 0:
        raise ValueError("currents must be a tensor [T, ...] with T >= 1")
    num_steps = currents.shape[0]
    if state is None:
        state = clock_initial_state(currents[0])
    k0 = int(state.k)
    view = (-1,) + (1,) * (currents.ndim - 1)
    steps = torch.arange(k0, k0 + num_steps, device=currents.device).view(view)
    tau = steps.to(currents.dtype) * dt
    s = _TimeCumsum.apply(currents)
    p = _TimeCumsum.apply(currents * tau)
    if state.k != 0 or state.s.requires_grad or state.s.any() or state.p.any():
        s, p = s + state.s, p + state.p  # (skipped for a fresh state: adding zeros is exact)
    v_end = s * ((steps + 1).to(currents.dtype) * dt) - p
    crosses = (v_end >= threshold) & (s > 0)
    not_fired = state.k_spike < 0
    if not bool(not_fired.all()):
        crosses = crosses & not_fired.unsqueeze(0)
    fired = crosses.any(0)
    first = crosses.to(torch.uint8).argmax(0, keepdim=True)
    s_k = s.gather(0, first).squeeze(0)
    p_k = p.gather(0, first).squeeze(0)
    t_new = (threshold + p_k) / torch.where(fired, s_k, torch.ones_like(s_k))
    t_spike = torch.where(fired, t_new, state.t_spike)
    k_new = first.squeeze(0) + k0
    k_spike = torch.where(fired, k_new, state.k_spike)
    spikes = HatSpikeTrain.apply(t_spike, k_spike, v_end, num_steps, k0, dt, silent_grad)
    new_state = ClockState(s[-1], p[-1], t_spike, k_spike, k0 + num_steps)
    return spikes, v_end, new_state
