"""Moved to stdbp_plugin.models.counting (no Lightning needed); re-exported for old imports."""

from stdbp_plugin.models.counting import conv_synops, dense_synops, settled_step

__all__ = ["conv_synops", "dense_synops", "settled_step"]
