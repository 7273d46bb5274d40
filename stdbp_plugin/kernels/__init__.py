"""Backends of the event-driven ReL-PSP kernel.

Each backend module offers ``forward(t_in, weight, threshold) -> ForwardResult`` and
``backward(a, t_in, t_out, weight, order, n_causal, need_input_grad, need_weight_grad)``
with the same meaning as :mod:`stdbp_plugin.kernels.reference` (the specification).
"""

from __future__ import annotations

from types import ModuleType

import torch

from stdbp_plugin.kernels import reference
from stdbp_plugin.kernels.result import ForwardResult

BACKENDS = ("auto", "torch", "numba")

__all__ = ["BACKENDS", "ForwardResult", "resolve_backend"]


def _numba_module() -> ModuleType:
    from stdbp_plugin.kernels import numba_cpu

    return numba_cpu


def resolve_backend(backend: str, device: torch.device) -> ModuleType:
    """Return the kernel module for ``backend`` ("auto" = numba on CPU, torch elsewhere)."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if backend == "torch":
        return reference
    if backend == "numba":
        if device.type != "cpu":
            raise ValueError(f"backend='numba' runs on CPU tensors only, got device {device}")
        return _numba_module()
    if device.type == "cpu":
        try:
            return _numba_module()
        except ImportError:  # numba missing: fall back to the reference
            return reference
    return reference
