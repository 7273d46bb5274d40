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

BACKENDS = ("auto", "torch", "numba", "triton")

__all__ = ["BACKENDS", "ForwardResult", "resolve_backend"]


def _numba_module() -> ModuleType:
    from stdbp_plugin.kernels import numba_cpu

    return numba_cpu


def _triton_module() -> ModuleType:
    from stdbp_plugin.kernels import triton_backend

    return triton_backend


def resolve_backend(backend: str, device: torch.device) -> ModuleType:
    """Return the kernel module for ``backend``.

    "auto" = numba on CPU, triton on CUDA (where triton imports), the torch reference elsewhere
    or when triton is missing. "triton" needs CUDA tensors, or CPU tensors with
    TRITON_INTERPRET=1 (Triton's interpreter, for tests)."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if backend == "torch":
        return reference
    if backend == "numba":
        if device.type != "cpu":
            raise ValueError(f"backend='numba' runs on CPU tensors only, got device {device}")
        return _numba_module()
    if backend == "triton":
        module = _triton_module()
        module.check_device(device)
        return module
    if device.type == "cpu":
        return _numba_module()  # numba is a core dependency
    if device.type == "cuda":
        try:
            module = _triton_module()
            if module.available():
                return module
        except ImportError:  # triton missing: fall back to the reference
            pass
    return reference
