"""The event-driven model that ``convert(mode="event")`` returns."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from stdbp_plugin.functional.spike_trains import spikes_to_times, times_to_spikes


class EventDrivenModel(nn.Module):
    """[T, B, ...] spike trains -> ([T, B, N] spike trains, exact output spike times [B, N]).

    The first spike of each input at step k becomes the time k dt (``spikes_to_times``); the
    ``stdbp_plugin.nn`` layers in ``layers`` compute exact spike times (STDBP backward); the
    output times are turned back into a train of the same T (``times_to_spikes``; spikes at or
    after T dt are absent from the train but present in the times). ``silent_grad`` > 0: an
    output with no spike in the window receives dL/dt = silent_grad * max(-dL/ds_{T-1}, 0) (the
    last step is where ``ce_temporal_loss`` puts a silent neuron), so it can be revived.
    """

    def __init__(self, layers: nn.Sequential, dt: float, silent_grad: float = 0.0) -> None:
        super().__init__()
        self.layers, self.dt, self.silent_grad = layers, float(dt), float(silent_grad)

    def forward(self, spikes: Tensor) -> tuple[Tensor, Tensor]:
        num_steps = spikes.shape[0]
        t_out = self.layers(spikes_to_times(spikes, self.dt))
        train = _OutputTrain.apply(t_out, num_steps, self.dt, self.silent_grad)
        return train, t_out

    def extra_repr(self) -> str:
        return f"dt={self.dt}, silent_grad={self.silent_grad}"


class _OutputTrain(torch.autograd.Function):
    """times_to_spikes with the hat backward, plus the silent-output push described above."""

    @staticmethod
    def forward(ctx, t, num_steps: int, dt: float, silent_grad: float):
        with torch.enable_grad():
            t_leaf = t.detach().requires_grad_()
            train = times_to_spikes(t_leaf, num_steps, dt)
        ctx.save_for_backward(t_leaf, train)
        ctx.late = t.detach() >= num_steps * dt
        ctx.silent_grad = silent_grad
        return train.detach()

    @staticmethod
    def backward(ctx, grad):
        t_leaf, train = ctx.saved_tensors
        (g,) = torch.autograd.grad(train, t_leaf, grad)
        if ctx.silent_grad:
            push = ctx.silent_grad * (-grad[-1]).clamp(min=0)
            g = g + torch.where(ctx.late, push, torch.zeros_like(push))
        return g, None, None, None
