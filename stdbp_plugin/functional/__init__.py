"""Pure functions of the event-driven ReL-PSP model: layers, coding, losses."""

from stdbp_plugin.functional.coding import first_spike_predict, latency_encode
from stdbp_plugin.functional.conv import earliest_spike_pool2d, relpsp_conv2d
from stdbp_plugin.functional.linear import relpsp_linear
from stdbp_plugin.functional.loss import temporal_cross_entropy
from stdbp_plugin.functional.spike_trains import spikes_to_times, times_to_spikes

__all__ = [
    "earliest_spike_pool2d",
    "first_spike_predict",
    "latency_encode",
    "relpsp_conv2d",
    "relpsp_linear",
    "spikes_to_times",
    "temporal_cross_entropy",
    "times_to_spikes",
]
