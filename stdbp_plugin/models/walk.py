"""The one walk over a layer spec, shared by the STDBP and the surrogate-gradient networks.

Building: one module per spec layer, each told its input size (channels of a map, or the
flattened features before a dense layer). Running: every layer in order; a map is flattened
before the first dense layer; before each conv / dense layer the input spikes are counted as
synaptic operations (see stdbp_plugin.models.counting), then the layer's neuron runs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from torch import Tensor, nn

from stdbp_plugin.models.counting import conv_synops, dense_synops
from stdbp_plugin.models.spec import LayerSpec, flat_size, output_shapes


def build_layers(
    layers: Sequence[LayerSpec],
    input_shape: tuple[int, int, int],
    *,
    conv: Callable[[int, LayerSpec], nn.Module],
    pool: Callable[[LayerSpec], nn.Module],
    dense: Callable[[int, LayerSpec], nn.Module],
) -> nn.ModuleList:
    """One module per layer: ``conv(in_channels, spec)``, ``pool(spec)``,
    ``dense(in_features, spec)`` (in_features = C*H*W of a map feeding the first dense layer)."""
    modules, shape = [], tuple(input_shape)
    for spec, out_shape in zip(layers, output_shapes(list(layers), input_shape), strict=True):
        if spec.kind == "conv":
            modules.append(conv(shape[0], spec))
        elif spec.kind == "pool":
            modules.append(pool(spec))
        else:
            modules.append(dense(flat_size(shape), spec))
        shape = out_shape
    return nn.ModuleList(modules)


def layer_synops(spec: LayerSpec, spikes_in: Tensor) -> Tensor:
    """[B] synaptic operations of ``spikes_in`` (0/1 or counts) entering a conv / dense layer."""
    if spec.kind == "conv":
        return conv_synops(spikes_in, spec.size, spec.kernel, spec.padding)
    return dense_synops(spikes_in, spec.size)


def run_layers(
    layers: Sequence[LayerSpec],
    modules: Sequence[nn.Module],
    h: Tensor,
    *,
    neuron: Callable[[int, nn.Module, Tensor], Tensor],
    spikes: Callable[[Tensor], Tensor],
) -> tuple[Tensor, Tensor]:
    """``h`` [B, ...] through every layer -> (output, synops [B]).

    Pools apply their module; the n-th conv / dense layer computes ``neuron(n, module, h)``.
    ``spikes(h)`` turns a layer input into 0/1 spikes for the synaptic-operation count.
    """
    synops = h.new_zeros(h.shape[0])
    n = 0
    for spec, module in zip(layers, modules, strict=True):
        if spec.kind == "pool":
            h = module(h)
            continue
        if spec.kind == "dense" and h.ndim > 2:
            h = h.flatten(1)
        synops = synops + layer_synops(spec, spikes(h).detach())
        h = neuron(n, module, h)
        n += 1
    return h, synops
