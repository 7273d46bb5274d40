"""Counting synaptic operations: every input spike drives each synapse it reaches once.

Dense layer: ops = (#input spikes) x out_features.
Convolution: ops = out_channels x sum over output positions of the spikes in the receptive
field, i.e. conv2d(spike map, ones kernel) summed (exact at the borders and with padding).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def dense_synops(spikes_in: Tensor, out_features: int) -> Tensor:
    """spikes_in [B, N_in] (0/1 or counts) -> [B] synaptic operations."""
    return spikes_in.flatten(1).sum(dim=1) * out_features


def conv_synops(spikes_in: Tensor, out_channels: int, kernel: int, padding: int = 0) -> Tensor:
    """spikes_in [B, C, H, W] -> [B] synaptic operations of a stride-1 k x k convolution."""
    ones = spikes_in.new_ones(1, spikes_in.shape[1], kernel, kernel)
    reach = F.conv2d(spikes_in, ones, padding=padding)
    return reach.flatten(1).sum(dim=1) * out_channels


def settled_step(prediction_over_time: Tensor, decided_over_time: Tensor) -> Tensor:
    """First step from which the decision equals the final one and stays decided.

    prediction_over_time [T, B] (class per step), decided_over_time [T, B] (bool). Returns [B]
    step indices as float, +inf where the final step is undecided.
    """
    steps = prediction_over_time.shape[0]
    final = prediction_over_time[-1]
    good = (prediction_over_time == final) & decided_over_time  # [T, B]
    # last bad step + 1: flip in time and find the first bad step from the end.
    bad = ~good
    any_bad = bad.any(dim=0)
    last_bad = steps - 1 - bad.flip(0).to(torch.uint8).argmax(dim=0)
    first_good = torch.where(any_bad, last_bad + 1, torch.zeros_like(last_bad)).to(torch.float32)
    return torch.where(good[-1], first_good, torch.full_like(first_good, float("inf")))
