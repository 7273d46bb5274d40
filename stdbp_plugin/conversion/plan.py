"""From the layer list to the event-driven layers (and which neuron each belongs to)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from stdbp_plugin.conversion.walk import WEIGHT_LAYERS, Leaf
from stdbp_plugin.nn import EarliestSpikePool2d, ReLPSPConv2d, ReLPSPLinear


def _event_shape_layer(leaf: Leaf) -> nn.Module:
    m = leaf.module
    if isinstance(m, nn.MaxPool2d):
        return EarliestSpikePool2d(m.kernel_size, m.stride)
    if isinstance(m, nn.AvgPool2d):
        raise ValueError(
            f"convert(mode='event'): cannot convert {leaf.name!r} (AvgPool2d): averaging has no "
            "spike-time equivalent; use MaxPool2d (earliest-spike pooling) or mode='clock'"
        )
    if isinstance(m, (nn.Dropout, nn.Identity)):
        return nn.Identity()
    return m  # Flatten / Unflatten act on spike-time maps unchanged


def _event_weight_layer(leaf: Leaf, theta: Tensor, neuron: nn.Module) -> nn.Module:
    m = leaf.module
    per_neuron = theta.numel() > 1
    bias = m.bias
    if bias is None and isinstance(neuron._parameters.get("bias"), Tensor):
        bias = neuron._parameters["bias"].reshape(-1)  # a ReL-PSP neuron built with its own bias
    has_bias = bias is not None
    if isinstance(m, nn.Linear):
        layer = ReLPSPLinear(
            m.in_features, m.out_features, bias=has_bias, per_neuron_threshold=per_neuron
        )
    else:
        if m.groups != 1 or m.dilation != (1, 1) or not isinstance(m.padding, tuple):
            raise ValueError(
                f"convert(mode='event'): cannot convert {leaf.name!r}: only Conv2d with groups=1, "
                "dilation=1 and numeric padding is supported"
            )
        layer = ReLPSPConv2d(
            m.in_channels,
            m.out_channels,
            m.kernel_size,
            m.stride,
            m.padding,
            bias=has_bias,
            per_neuron_threshold=per_neuron,
        )
    layer = layer.to(m.weight.device, m.weight.dtype)
    with torch.no_grad():
        layer.weight.copy_(m.weight)
        if has_bias:
            layer.bias.copy_(bias)
    layer.threshold = theta.to(layer.weight).reshape(layer.threshold.shape).clone()
    return layer


def build_event_layers(
    leaves: list[Leaf], is_neuron, is_readout, thresholds: dict[str, Tensor]
) -> tuple[nn.Sequential, list[tuple[int, str]]]:
    """stdbp_plugin.nn layers with the model's weights, from the layers in data-flow order.
    Returns the Sequential and, for each ReL-PSP weight layer, (its index in the Sequential,
    the name of the neuron it replaces). A non-spiking read-out is a ValueError naming it."""
    layers: list[nn.Module] = []
    links: list[tuple[int, str]] = []
    pending: Leaf | None = None
    between: list[Leaf] = []
    for leaf in leaves:
        if is_readout(leaf.module):
            raise ValueError(
                f"convert(mode='event'): {leaf.name!r} ({type(leaf.module).__name__}) is a "
                "non-spiking membrane read-out, which has no event-driven counterpart: use "
                "mode='clock' (the read-out is kept there and integrates the ReL-PSP spikes), or "
                "drop it and read the class from the first output spike"
            )
        if isinstance(leaf.module, WEIGHT_LAYERS):
            if pending is not None:
                raise ValueError(
                    f"convert(mode='event'): {pending.name!r} is not followed by a "
                    "spiking neuron (every Linear/Conv2d must feed one)"
                )
            pending, between = leaf, []
        elif is_neuron(leaf.module):
            if pending is None:
                raise ValueError(
                    f"convert(mode='event'): neuron {leaf.name!r} has no Linear or Conv2d before it"
                )
            links.append((len(layers), leaf.name))
            layers.append(_event_weight_layer(pending, thresholds[leaf.name], leaf.module))
            # shape layers between the weights and the neuron act on the spike times instead
            layers.extend(_event_shape_layer(b) for b in between)
            pending, between = None, []
        elif pending is not None:
            between.append(leaf)
        else:
            layers.append(_event_shape_layer(leaf))
    if pending is not None:
        raise ValueError(
            f"convert(mode='event'): {pending.name!r} is not followed by a spiking "
            "neuron (every Linear/Conv2d must feed one)"
        )
    return nn.Sequential(*layers), links
