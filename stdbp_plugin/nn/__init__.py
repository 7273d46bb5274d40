"""nn.Module layers of the event-driven ReL-PSP model (spike-time tensors in and out)."""

from stdbp_plugin.nn.init import relpsp_init_
from stdbp_plugin.nn.layers import EarliestSpikePool2d, LatencyEncoder, ReLPSPConv2d, ReLPSPLinear

__all__ = ["EarliestSpikePool2d", "LatencyEncoder", "ReLPSPConv2d", "ReLPSPLinear", "relpsp_init_"]
