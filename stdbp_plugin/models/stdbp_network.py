"""An event-driven ReL-PSP network built from a spec: images -> spike times of every layer."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from stdbp_plugin.models.defaults import HORIZON, MAX_INV_SLOPE
from stdbp_plugin.models.spec import parse_spec
from stdbp_plugin.models.walk import build_layers, run_layers
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
    """LatencyEncoder then ReLPSPConv2d / EarliestSpikePool2d / ReLPSPLinear layers per spec.

    Args:
        spec, input_shape: the architecture (see stdbp_plugin.models.spec), (C, H, W).
        t_max, x_min: latency encoder, t = t_max (1 - x); x <= x_min never spikes.
        threshold, horizon, max_inv_slope, backend: of every ReL-PSP layer (see
            stdbp_plugin.nn.ReLPSPLinear; defaults in stdbp_plugin.models.defaults).
    """

    def __init__(
        self,
        spec: str,
        input_shape: tuple[int, int, int],
        t_max: float = 1.0,
        x_min: float = 0.0,
        threshold: float = 1.0,
        horizon: float | None = HORIZON,
        max_inv_slope: float | None = MAX_INV_SLOPE,
        backend: str = "auto",
    ) -> None:
        super().__init__()
        self.layer_specs = parse_spec(spec)
        self._input_shape = tuple(int(v) for v in input_shape)
        self.encoder = LatencyEncoder(t_max, x_min)
        common = dict(
            threshold=threshold, horizon=horizon, max_inv_slope=max_inv_slope, backend=backend
        )
        self.layers = build_layers(
            self.layer_specs,
            self._input_shape,
            conv=lambda c_in, s: ReLPSPConv2d(
                c_in, s.size, s.kernel, stride=1, padding=s.padding, **common
            ),
            pool=lambda s: EarliestSpikePool2d(s.kernel),
            dense=lambda n_in, s: ReLPSPLinear(n_in, s.size, **common),
        )

    @property
    def num_neuron_layers(self) -> int:
        return sum(spec.kind != "pool" for spec in self.layer_specs)

    def run(self, x: Tensor) -> SpikeTimesRun:
        """x [B, C, H, W] (or [B, C*H*W]) in [0, 1] -> spike times and counts of every layer."""
        t = self.encoder(x.reshape(x.shape[0], *self.input_shape))
        times: list[Tensor] = []

        def neuron(n: int, layer: nn.Module, t_in: Tensor) -> Tensor:
            times.append(layer(t_in))
            return times[-1]

        t_out, synops = run_layers(
            self.layer_specs,
            self.layers,
            t,
            neuron=neuron,
            spikes=lambda t_in: torch.isfinite(t_in).to(t_in.dtype),
        )
        counts = [torch.isfinite(t_l).flatten(1).sum(dim=1) for t_l in times]
        return SpikeTimesRun(t_out, times, torch.stack(counts, dim=1), synops)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return self._input_shape

    def forward(self, x: Tensor) -> Tensor:
        """Output spike times [B, n_classes]."""
        return self.run(x).t_out
