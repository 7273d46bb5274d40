"""A Linear / Conv2d whose bias is one input spike at t = 0 of the neuron it feeds.

A ReL-PSP bias b is an input spike at t = 0 with weight b (docs/design.md), so in a stepped loop
the neuron's current is c_k = W x_k + b [k == 0], not W x_k + b at every step. The layer keeps
its ``weight`` and ``bias`` parameters (``state_dict`` keys and checkpoints unchanged), computes
W x_k, and hands its bias to the neuron it feeds, which adds it in the first step of a sequence
(``ReLPSP`` / ``ReLPSPCell`` / Norse ``ReLPSP`` add their ``bias`` attribute at step 0 only).
The neuron only holds a reference (refreshed at every call, never registered), so the bias stays
one parameter of the layer, and ``convert(..., mode="event")`` of the converted model finds it
where it was.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def _hand_over(neuron: nn.Module, bias: Tensor | None) -> None:
    """Let ``neuron.bias`` read ``bias`` without registering it as the neuron's parameter."""
    if neuron._parameters.get("bias", 0) is None:
        del neuron._parameters["bias"]
    object.__setattr__(neuron, "bias", bias)


class _StepZeroBias:
    """Mixin: ``self._neuron = (neuron, name)`` receives the bias at every call."""

    _neuron: tuple[nn.Module, str]

    def link(self, neuron: nn.Module, name: str) -> None:
        self._neuron = (neuron, name)
        _hand_over(neuron, None)

    def extra_repr(self) -> str:
        where = (
            f", bias: input spike at t = 0 of {self._neuron[1]!r}" if self.bias is not None else ""
        )
        return super().extra_repr() + where  # type: ignore[misc]


class StepZeroBiasLinear(_StepZeroBias, nn.Linear):
    """``nn.Linear`` computing W x; its bias reaches the linked neuron at step 0 only."""

    @classmethod
    def from_layer(cls, layer: nn.Linear, neuron: nn.Module, name: str) -> StepZeroBiasLinear:
        new = cls(layer.in_features, layer.out_features, bias=False, device="meta")
        new.weight, new.bias = layer.weight, layer.bias  # the same Parameter objects
        new.link(neuron, name)
        return new

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002 - nn.Linear's name
        _hand_over(self._neuron[0], self.bias)
        return F.linear(input, self.weight)


class StepZeroBiasConv2d(_StepZeroBias, nn.Conv2d):
    """``nn.Conv2d`` computing W * x; its bias reaches the linked neuron at step 0 only."""

    @classmethod
    def from_layer(cls, layer: nn.Conv2d, neuron: nn.Module, name: str) -> StepZeroBiasConv2d:
        new = cls(
            layer.in_channels,
            layer.out_channels,
            layer.kernel_size,
            stride=layer.stride,
            padding=layer.padding,
            dilation=layer.dilation,
            groups=layer.groups,
            bias=False,
            padding_mode=layer.padding_mode,
            device="meta",
        )
        new.weight, new.bias = layer.weight, layer.bias
        new.link(neuron, name)
        return new

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002 - nn.Conv2d's name
        bias = None if self.bias is None else self.bias.view(-1, 1, 1)
        _hand_over(self._neuron[0], bias)
        return self._conv_forward(input, self.weight, None)


def step_zero_bias(layer: nn.Module, neuron: nn.Module, name: str) -> nn.Module:
    """The layer (a new module sharing its parameters) that hands its bias to ``neuron``."""
    if isinstance(layer, _StepZeroBias):
        layer.link(neuron, name)
        return layer
    cls = StepZeroBiasConv2d if isinstance(layer, nn.Conv2d) else StepZeroBiasLinear
    with torch.no_grad():
        return cls.from_layer(layer, neuron, name)
