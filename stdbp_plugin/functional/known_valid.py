"""Spike-time tensors this package produced itself: their values need no second check.

A ReL-PSP layer's output is >= 0 or +inf by construction (t_j >= t_(k) >= 0), and so is the
latency code of data checked to lie in [0, 1] and the earliest-spike pooling of such times.
Checking them again at the next layer reads a tensor's value on the host: one device sync
per check on a GPU. ``mark_valid`` tags such a tensor with its version counter and storage;
``is_known_valid`` is true only while both are unchanged, so an in-place edit (``t.sub_(5)``,
also through ``t.detach()`` or a view, which share the counter) or a copy brings the check
back.
Not tracked: writes through ``t.data`` (a separate counter). Under ``torch.compile``
(tracing) and for inference tensors (no version counter) nothing is tagged or trusted.
"""

from __future__ import annotations

import torch
from torch import Tensor

_TAG = "_stdbp_valid_spike_times"


def _trackable(t: Tensor) -> bool:
    return not torch.compiler.is_compiling() and not t.is_inference()


def _stamp(t: Tensor) -> tuple[int, int] | None:
    """(version, storage address); None for a tensor without storage (a wrapper subclass)."""
    try:
        return t._version, t.data_ptr()
    except RuntimeError:
        return None


def mark_valid(t: Tensor) -> Tensor:
    """Tag ``t`` (spike times >= 0 or +inf, no NaN, produced here) and return it. A view is
    tagged with its base, which must hold valid times only too (a reshaped layer output), so
    that other views of it (``h.flatten(1)``) are trusted as well."""
    if _trackable(t):
        for x in (t, t._base):
            stamp = None if x is None else _stamp(x)
            if stamp is not None:
                setattr(x, _TAG, stamp)
    return t


def is_known_valid(t: Tensor) -> bool:
    """True when ``t`` (or the base it views) was tagged by ``mark_valid`` and not modified in
    place since (a view shares its base's version counter)."""
    if not isinstance(t, Tensor) or not _trackable(t):
        return False  # not a tensor: the caller's own check names it
    for x in (t, t._base):
        tag = None if x is None else getattr(x, _TAG, None)
        if tag is not None and tag == _stamp(x):
            return True
    return False
