"""Plain-torch networks built from a layer spec (no Lightning): the event-driven STDBP
network, the clock-driven surrogate-gradient baselines, the spec grammar, the synaptic
operation count and the shared defaults."""

from stdbp_plugin.models.counting import conv_synops, dense_synops, settled_step
from stdbp_plugin.models.spec import LayerSpec, flat_size, output_shapes, parse_spec
from stdbp_plugin.models.stdbp_network import SpikeTimesRun, STDBPNetwork
from stdbp_plugin.models.surrogate_adapters import (
    ADAPTERS,
    SURROGATE_MODELS,
    NorseAdapter,
    SnnTorchAdapter,
    SurrogateAdapter,
    surrogate_options,
)
from stdbp_plugin.models.surrogate_network import FRAMEWORKS, SpikeTrainRun, SurrogateNetwork

__all__ = [
    "ADAPTERS",
    "FRAMEWORKS",
    "SURROGATE_MODELS",
    "LayerSpec",
    "NorseAdapter",
    "STDBPNetwork",
    "SnnTorchAdapter",
    "SpikeTimesRun",
    "SpikeTrainRun",
    "SurrogateAdapter",
    "SurrogateNetwork",
    "conv_synops",
    "dense_synops",
    "flat_size",
    "output_shapes",
    "parse_spec",
    "settled_step",
    "surrogate_options",
]
