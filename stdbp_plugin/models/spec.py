"""Network specs: "800-10" or "16C5-P2-32C5-P2-800-128-10" as a list of layer specs.

Tokens, separated by "-":  ``<n>C<k>`` (optionally ``p<pad>``): convolution with n channels,
k x k kernel, stride 1;  ``P<k>``: k x k pooling (stride k);  ``<n>``: fully connected layer of
n neurons. The last token is the output layer (one neuron per class). Convolution and pooling
come before the first fully connected layer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_CONV = re.compile(r"^(\d+)C(\d+)(?:p(\d+))?$")
_POOL = re.compile(r"^P(\d+)$")
_DENSE = re.compile(r"^(\d+)$")


@dataclass(frozen=True)
class LayerSpec:
    """One layer: kind "conv" (size = channels), "pool" (size = window) or "dense" (neurons)."""

    kind: str
    size: int
    kernel: int = 1
    padding: int = 0


def parse_spec(spec: str) -> list[LayerSpec]:
    """Parse a spec string into layers; ValueError on any malformed token."""
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"spec must be a non-empty string like '800-10', got {spec!r}")
    layers: list[LayerSpec] = []
    for token in spec.strip().split("-"):
        if m := _CONV.match(token):
            if layers and layers[-1].kind == "dense":
                raise ValueError(f"spec {spec!r}: convolution {token!r} after a dense layer")
            layer = LayerSpec("conv", int(m[1]), int(m[2]), int(m[3] or 0))
        elif m := _POOL.match(token):
            if not layers or layers[-1].kind == "dense":
                raise ValueError(f"spec {spec!r}: pooling {token!r} must follow a convolution")
            layer = LayerSpec("pool", int(m[1]), int(m[1]))
        elif m := _DENSE.match(token):
            layer = LayerSpec("dense", int(m[1]))
        else:
            raise ValueError(
                f"spec {spec!r}: bad token {token!r}; expected '<n>C<k>[p<pad>]', 'P<k>' or '<n>'"
            )
        if layer.size < 1 or layer.kernel < 1:
            raise ValueError(f"spec {spec!r}: sizes in {token!r} must be >= 1")
        layers.append(layer)
    if layers[-1].kind != "dense":
        raise ValueError(f"spec {spec!r} must end with a dense output layer (e.g. '-10')")
    return layers


def output_shapes(layers: list[LayerSpec], input_shape: tuple[int, ...]) -> list[tuple[int, ...]]:
    """Shape of one sample after each layer; ValueError if a map becomes smaller than a kernel."""
    shape = tuple(int(s) for s in input_shape)
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"input_shape must be (C, H, W) with positive sizes, got {input_shape}")
    shapes = []
    for layer in layers:
        if layer.kind == "dense":
            shape = (layer.size,)
        else:
            channels, height, width = shape
            if layer.kind == "conv":
                height, width = height + 2 * layer.padding, width + 2 * layer.padding
                stride, channels = 1, layer.size
            else:
                stride = layer.kernel
            if height < layer.kernel or width < layer.kernel:
                raise ValueError(
                    f"input_shape {tuple(input_shape)}: a {layer.kind} of kernel {layer.kernel} "
                    f"does not fit a {height}x{width} map"
                )
            shape = (
                channels,
                (height - layer.kernel) // stride + 1,
                (width - layer.kernel) // stride + 1,
            )
        shapes.append(shape)
    return shapes


def flat_size(shape: tuple[int, ...]) -> int:
    n = 1
    for s in shape:
        n *= s
    return n
