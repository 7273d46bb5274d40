"""Hand-written analysis for docs/pipelines.md, keyed by (pipeline, variant); ("*", "*") is a
closing note and (pipeline, "*") applies to every variant of that pipeline. Written after the
measured run it explains: update it with the run."""

from __future__ import annotations

NOTES: dict[tuple[str, str], str] = {}
