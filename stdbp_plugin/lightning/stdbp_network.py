"""An event-driven ReL-PSP network built from a spec: images -> spike times of every layer."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from stdbp_plugin.lightning.counting import conv_synops, dense_synops
from stdbp_plugin.lightning.spec import flat_size, output_shapes, parse_spec
from stdbp_plugin.nn import EarliestSpikePool2d, LatencyEncoder, ReLPSPConv2d, ReLPSPLinear


@dataclass
class SpikeTimesRun:
    """t_out [B, n_classes]; layer_times: spike times of every neuron layer (conv / dense);
    spike_counts [B, n_layers]; synops [B] (input spikes x fan-out, summed over layers)."""

    t_out: Tensor
    layer_times: list[Tensor]
    spike_counts: Tensor
    synops: Tensor


class STDBPNetwork(nn.Module):
    """LatencyEncoder then ReLPSPConv2d / EarliestSpikePool2d / ReLPSPLinear layers per spec."""

    def __init__(
        self,
        spec: str,
        input_shape: tuple[int, int, int],
        t_max: float = 1.0,
        x_min: float = 0.0,
        threshold: float = 1.0,
        horizon: float | None = None,
        max_inv_slope: float | None = None,
        backend: str = "auto",
    ) -> None:
        super().__init__()
        self.layer_specs = parse_spec(spec)
        self.shapes = output_shapes(self.layer_specs, input_shape)
        self._input_shape = tuple(int(v) for v in input_shape)
        self.encoder = LatencyEncoder(t_max, x_min)
        common = dict(
            threshold=threshold, horizon=horizon, max_inv_slope=max_inv_slope, backend=backend
        )
        layers, shape = [], tuple(input_shape)
        for spec_l, out_shape in zip(self.layer_specs, self.shapes, strict=True):
            if spec_l.kind == "conv":
                layers.append(
                    ReLPSPConv2d(shape[0], spec_l.size, spec_l.kernel, 1, spec_l.padding, **common)
                )
            elif spec_l.kind == "pool":
                layers.append(EarliestSpikePool2d(spec_l.kernel))
            else:
                layers.append(ReLPSPLinear(flat_size(shape), spec_l.size, **common))
            shape = out_shape
        self.layers = nn.ModuleList(layers)

    @property
    def num_neuron_layers(self) -> int:
        return sum(spec.kind != "pool" for spec in self.layer_specs)

    def run(self, x: Tensor) -> SpikeTimesRun:
        """x [B, C, H, W] (or [B, C*H*W]) in [0, 1] -> spike times and counts of every layer."""
        t = self.encoder(x.reshape(x.shape[0], *self.input_shape))
        times, counts, synops = [], [], t.new_zeros(t.shape[0])
        for spec_l, layer in zip(self.layer_specs, self.layers, strict=True):
            if spec_l.kind == "dense" and t.ndim > 2:
                t = t.flatten(1)
            if spec_l.kind != "pool":
                fired_in = torch.isfinite(t).to(t.dtype).detach()
                if spec_l.kind == "conv":
                    synops = synops + conv_synops(
                        fired_in, spec_l.size, spec_l.kernel, spec_l.padding
                    )
                else:
                    synops = synops + dense_synops(fired_in, spec_l.size)
            t = layer(t)
            if spec_l.kind != "pool":
                times.append(t)
                counts.append(torch.isfinite(t).flatten(1).sum(dim=1))
        return SpikeTimesRun(t, times, torch.stack(counts, dim=1), synops)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return self._input_shape

    def forward(self, x: Tensor) -> Tensor:
        """Output spike times [B, n_classes]."""
        return self.run(x).t_out
