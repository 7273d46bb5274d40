"""Thresholds from a sample batch, so that a converted model fires inside the time window."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from stdbp_plugin.nn import ReLPSPConv2d, ReLPSPLinear


def end_potential(layer: nn.Module, t_in: Tensor, horizon: float) -> Tensor:
    """V_j(H) = b_j H + sum_i w_ji max(0, H - t_i): each neuron's potential at the window's end."""
    ramp = torch.clamp(horizon - t_in, min=0.0)
    ramp = torch.where(torch.isfinite(ramp), ramp, torch.zeros_like(ramp))
    if isinstance(layer, ReLPSPLinear):
        return F.linear(ramp, layer.weight, None if layer.bias is None else layer.bias * horizon)
    bias = None if layer.bias is None else layer.bias * horizon
    return F.conv2d(ramp, layer.weight, bias, layer.stride, layer.padding)


@torch.no_grad()
def calibrate_thresholds(
    layers: nn.Sequential,
    links: list[tuple[int, str]],
    t_in: Tensor,
    horizon: float,
    fire_fraction: float,
) -> dict[str, Tensor]:
    """Layer by layer, theta = the (1 - fire_fraction) quantile of the positive end potentials
    V_j(H) over the sample, so that about ``fire_fraction`` of the (sample, neuron) pairs that can
    fire (V_j(H) > 0) do fire before H = T dt. Sets the thresholds of ``layers`` in place and
    returns them by neuron name."""
    names = dict(links)
    found: dict[str, Tensor] = {}
    t = t_in
    for index, layer in enumerate(layers):
        if isinstance(layer, (ReLPSPLinear, ReLPSPConv2d)):
            v = end_potential(layer, t, horizon)
            positive = v[v > 0]
            if positive.numel() > 0:
                theta = torch.quantile(positive.double(), 1.0 - fire_fraction).to(v.dtype)
                layer.threshold = torch.full_like(layer.threshold, float(theta))
            found[names[index]] = layer.threshold.detach().clone()
        t = layer(t)
    return found
