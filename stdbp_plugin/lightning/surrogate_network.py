"""Moved to stdbp_plugin.models.surrogate_network (no Lightning needed); re-exported for old
imports."""

from stdbp_plugin.models.surrogate_network import FRAMEWORKS, SpikeTrainRun, SurrogateNetwork

__all__ = ["FRAMEWORKS", "SpikeTrainRun", "SurrogateNetwork"]
