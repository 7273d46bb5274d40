"""Clock-driven ReL-PSP neurons for Norse (``import stdbp_plugin.norse``).

Norse style: ``ReLPSPParameters`` / ``ReLPSPState`` NamedTuples, a one-step ``ReLPSPCell`` and
a whole-sequence ``ReLPSP`` over [T, B, ...] (vectorised over time: cumsum, crossing test,
first crossing, closed form; no Python loop). Both take ``state`` so ``SequentialState`` threads it.

Dynamics (DESIGN section 2) with Norse's time unit (seconds, dt = 1e-3) and a gain g:

    V(t) = g * (S t - P),   S = sum_k c_k,   P = sum_k c_k k dt

fire once when V((k+1) dt) >= v_th, at t* = (v_th / g + P) / S. The gain ``tau_mem_inv`` (1/s)
defaults to 1000/s = 1/dt: one unit of input current raises V by one unit per 1 ms step, the
scale on which converted models fire on latency-coded inputs (Norse's LIF rate of 100/s leaves
most ReL-PSP neurons of an nn.Linear-initialised net silent within 30 steps). The cell equals an
event-driven ReL-PSP layer with threshold v_th / g and times in seconds.
``bias`` (optional) is an input spike at t = 0; ``silent_grad`` (default 0 = exact STDBP) lets
a silent neuron receive a "fire earlier" push, see ``stdbp_plugin.functional.clock.HatSpike``.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn

from stdbp_plugin.functional.clock import (
    ClockState,
    relpsp_clock_sequence,
    relpsp_clock_step,
)
from stdbp_plugin.functional.spike_trains import spikes_to_times


class ReLPSPParameters(NamedTuple):
    """tau_mem_inv: gain g of the ReL-PSP kernel g max(0, t - t_i), in 1/s; v_th: threshold."""

    tau_mem_inv: Tensor = torch.as_tensor(1000.0)
    v_th: Tensor = torch.as_tensor(1.0)


class ReLPSPState(NamedTuple):
    """s: slope S (summed input current); p: sum of c_k k dt; t_spike: exact spike time
    (valid where k_spike >= 0); k_spike: step of the spike, -1 = not yet; k: next step index."""

    s: Tensor
    p: Tensor
    t_spike: Tensor
    k_spike: Tensor
    k: Tensor


def _check(p: ReLPSPParameters, dt: float) -> None:
    if not isinstance(p, ReLPSPParameters):
        raise ValueError(f"p must be ReLPSPParameters, got {type(p).__name__}")
    if not (isinstance(dt, (int, float)) and dt > 0):
        raise ValueError(f"dt must be a number > 0, got {dt!r}")
    for name in ("tau_mem_inv", "v_th"):
        value = torch.as_tensor(getattr(p, name))
        if not torch.isfinite(value).all() or (value <= 0).any():
            raise ValueError(f"p.{name} must be finite and > 0, got {value}")


def _to_clock(state: ReLPSPState | None) -> ClockState | None:
    if state is None:
        return None
    if not isinstance(state, ReLPSPState):
        raise ValueError(f"state must be a ReLPSPState or None, got {type(state).__name__}")
    return ClockState(state.s, state.p, state.t_spike, state.k_spike, int(state.k))


def _to_norse(state: ClockState) -> ReLPSPState:
    k = torch.as_tensor(state.k, device=state.s.device)
    return ReLPSPState(state.s, state.p, state.t_spike, state.k_spike, k)


class _ReLPSPBase(nn.Module):
    """Parameters shared by the cell and the sequence module: ``p`` (default
    ``ReLPSPParameters()``), step ``dt`` in seconds, optional ``bias`` (an input spike at t = 0)
    and ``silent_grad`` (off = exact STDBP; see stdbp_plugin.functional.clock)."""

    def __init__(
        self,
        p: ReLPSPParameters | None = None,
        dt: float = 1e-3,
        bias: Tensor | None = None,
        silent_grad: float = 0.0,
    ) -> None:
        super().__init__()
        p = ReLPSPParameters() if p is None else p
        _check(p, dt)
        if not silent_grad >= 0:
            raise ValueError(f"silent_grad must be >= 0, got {silent_grad}")
        self.silent_grad = float(silent_grad)
        self.p, self.dt = p, float(dt)
        if bias is not None and not isinstance(bias, nn.Parameter):
            bias = nn.Parameter(torch.as_tensor(bias))
        self.bias = bias  # optional input spike at t = 0 (added to the current of step 0)

    def _theta(self, like: Tensor) -> Tensor:
        p = self.p
        v_th = torch.as_tensor(p.v_th, dtype=like.dtype, device=like.device)
        return v_th / torch.as_tensor(p.tau_mem_inv, dtype=like.dtype, device=like.device)

    def _gain(self, like: Tensor) -> Tensor:
        return torch.as_tensor(self.p.tau_mem_inv, dtype=like.dtype, device=like.device)

    def _check_input(self, x: Tensor, min_dim: int) -> None:
        if not isinstance(x, Tensor) or not x.is_floating_point() or x.ndim < min_dim:
            raise ValueError(
                f"input_tensor must be a floating-point tensor with >= {min_dim} dims, "
                f"got {getattr(x, 'shape', type(x).__name__)}"
            )

    def extra_repr(self) -> str:
        return f"p={self.p}, dt={self.dt}"


class ReLPSPCell(_ReLPSPBase):
    """One step: ``z, state = cell(input_tensor, state)`` on [B, ...]; see the module docstring.

    The ``state`` it returns carries the exact spike time (``state.t_spike`` where
    ``state.k_spike >= 0``).
    """

    def forward(
        self, input_tensor: Tensor, state: ReLPSPState | None = None
    ) -> tuple[Tensor, ReLPSPState]:
        self._check_input(input_tensor, 1)
        clock = _to_clock(state)
        if clock is None and self.bias is not None:
            input_tensor = input_tensor + self.bias
        z, _, clock = relpsp_clock_step(
            input_tensor, clock, self._theta(input_tensor), self.dt, self.silent_grad
        )
        return z, _to_norse(clock)


class ReLPSP(_ReLPSPBase):
    """Whole sequence: ``z, state = module(input_tensor [T, B, ...], state)``; identical to
    stepping :class:`ReLPSPCell` over dim 0 (outputs and gradients), without a Python loop."""

    def forward(
        self, input_tensor: Tensor, state: ReLPSPState | None = None
    ) -> tuple[Tensor, ReLPSPState]:
        self._check_input(input_tensor, 2)
        clock = _to_clock(state)
        if clock is None and self.bias is not None:
            first = input_tensor[:1] + self.bias
            input_tensor = torch.cat([first, input_tensor[1:]])
        z, _, clock = relpsp_clock_sequence(
            input_tensor, clock, self._theta(input_tensor), self.dt, self.silent_grad
        )
        return z, _to_norse(clock)


def potential(state: ReLPSPState, p: ReLPSPParameters, dt: float = 1e-3) -> Tensor:
    """V at the end of the last step: g (S k dt - P) with k = state.k (no reset after a spike)."""
    gain = torch.as_tensor(p.tau_mem_inv, dtype=state.s.dtype)
    return gain * (state.s * (int(state.k) * dt) - state.p)


class FirstSpikeTimeDecoder(nn.Module):
    """[T, B, ...] spikes -> [B, ...] first-spike times k dt (Norse units: seconds).

    Unlike Norse 1.1.0's ``SpikesToTimesDecoder`` (whose backward fails with a shape error as
    soon as a neuron is silent), silent neurons give +inf (or ``silent_time`` if set) and
    simply receive no gradient. Backward: dL/ds_k = -dt dL/dt at the first-spike step, which the
    hat rule of the ReL-PSP neurons turns back into the exact dL/dt*.
    """

    def __init__(self, dt: float = 1e-3, silent_time: float | None = None) -> None:
        super().__init__()
        if not (isinstance(dt, (int, float)) and dt > 0):
            raise ValueError(f"dt must be a number > 0, got {dt!r}")
        self.dt, self.silent_time = float(dt), silent_time

    def forward(self, spike_input: Tensor) -> Tensor:
        t = spikes_to_times(spike_input, self.dt)
        if self.silent_time is None:
            return t
        return torch.where(torch.isinf(t), torch.full_like(t, self.silent_time), t)


__all__ = [
    "FirstSpikeTimeDecoder",
    "ReLPSP",
    "ReLPSPCell",
    "ReLPSPParameters",
    "ReLPSPState",
    "potential",
]
