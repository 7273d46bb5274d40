"""Moved to stdbp_plugin.models.stdbp_network (no Lightning needed); re-exported for old
imports."""

from stdbp_plugin.models.stdbp_network import SpikeTimesRun, STDBPNetwork

__all__ = ["STDBPNetwork", "SpikeTimesRun"]
