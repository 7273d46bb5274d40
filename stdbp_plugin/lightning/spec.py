"""Moved to stdbp_plugin.models.spec (no Lightning needed); re-exported for old imports."""

from stdbp_plugin.models.spec import LayerSpec, flat_size, output_shapes, parse_spec

__all__ = ["LayerSpec", "flat_size", "output_shapes", "parse_spec"]
