"""Triton backend of the event-driven ReL-PSP kernel (CUDA; Triton's interpreter on CPU).

Same interface and meaning as :mod:`stdbp_plugin.kernels.reference` (the specification); the
programs are in :mod:`stdbp_plugin.kernels.triton_kernels`. The sort of each sample's input
times is torch's (stable, +inf last); the walk over them runs in one Triton program per
(sample, block of output neurons), with float64 accumulation like the numba backend.

CUDA tensors run the compiled kernels. CPU tensors run Triton's interpreter (slow: for tests
only), and only when the environment has ``TRITON_INTERPRET=1``. The weight gradient is summed
with float64 atomic adds, so its last bits may vary between runs on a GPU. Under
``torch.compile`` both functions run eagerly (a graph break), as dynamo cannot trace the launch.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

import torch
from torch import Tensor

from stdbp_plugin.kernels.result import ForwardResult

__all__ = ["available", "backward", "check_device", "forward", "interpreter_enabled"]

_KERNELS: dict[bool, ModuleType] = {}
_SOURCE = Path(__file__).with_name("triton_kernels.py")
MAX_BLOCK_O = 128


def available() -> bool:
    """Whether triton can be imported at all."""
    return importlib.util.find_spec("triton") is not None


def interpreter_enabled() -> bool:
    """``TRITON_INTERPRET`` is set to a true value (Triton's own reading of it)."""
    return os.environ.get("TRITON_INTERPRET", "0").lower() in ("1", "true", "on", "yes")


def check_device(device: torch.device) -> None:
    """CUDA, or CPU with TRITON_INTERPRET=1; anything else is a clear error."""
    if not available():
        raise ImportError("backend='triton' needs the triton package (pip install triton)")
    if device.type == "cuda":
        return
    if device.type == "cpu" and interpreter_enabled():
        return
    raise ValueError(
        f"backend='triton' runs on CUDA tensors (or on CPU tensors under Triton's interpreter, "
        f"TRITON_INTERPRET=1), got device {device}"
    )


@contextmanager
def _interpret_env(interpret: bool) -> Iterator[None]:
    """TRITON_INTERPRET set to ``interpret`` for the duration (restored after): Triton reads it
    when it decorates a function and, for a few helpers, while it compiles a launch."""
    before = os.environ.get("TRITON_INTERPRET")
    os.environ["TRITON_INTERPRET"] = "1" if interpret else "0"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("TRITON_INTERPRET", None)
        else:
            os.environ["TRITON_INTERPRET"] = before


def _kernels(interpret: bool) -> ModuleType:
    """triton_kernels.py loaded compiled (interpret=False) or interpreted; each once."""
    if interpret not in _KERNELS:
        name = f"stdbp_plugin.kernels._triton_kernels_{'interpreted' if interpret else 'compiled'}"
        spec = importlib.util.spec_from_file_location(name, _SOURCE)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # triton looks functions' modules up by name
        try:
            with _interpret_env(interpret):
                spec.loader.exec_module(module)
        except BaseException:
            sys.modules.pop(name, None)
            raise
        _KERNELS[interpret] = module
    return _KERNELS[interpret]


@contextmanager
def _launch(device: torch.device) -> Iterator[ModuleType]:
    """The kernels module for a launch on ``device``, inside the right context."""
    check_device(device)
    interpret = device.type != "cuda"
    kernels = _kernels(interpret)
    with _interpret_env(interpret):
        if interpret:
            yield kernels
        else:
            with torch.cuda.device(device):
                yield kernels


def _block(n_out: int) -> int:
    """Neurons per program: n_out rounded up to a power of two, within [16, MAX_BLOCK_O]."""
    return max(16, min(MAX_BLOCK_O, 1 << max(0, n_out - 1).bit_length()))


def _warps(block: int) -> int:
    """One warp per 32 neurons of a block (at least one)."""
    return max(1, block // 32)


@torch.compiler.disable  # opaque to torch.compile: dynamo cannot trace these launches
def forward(t_in: Tensor, weight: Tensor, threshold: Tensor) -> ForwardResult:
    """Exact first-crossing times. t_in [B, I], weight [O, I], threshold [O] (same device)."""
    batch, n_in = t_in.shape
    n_out = weight.shape[0]
    t_in = t_in.detach()
    sorted_t, order = torch.sort(t_in, dim=1, stable=True)
    t_out = t_in.new_full((batch, n_out), float("inf"))
    n_causal = torch.zeros((batch, n_out), dtype=torch.int64, device=t_in.device)
    slope = t_in.new_zeros((batch, n_out))
    if batch == 0 or n_out == 0 or n_in == 0:
        return ForwardResult(t_out, order, n_causal, slope)
    n_finite = torch.isfinite(sorted_t).sum(dim=1, dtype=torch.int32)
    weight_t = weight.detach().t().contiguous()
    theta = threshold.detach().to(torch.float64).expand(n_out).contiguous()
    block = _block(n_out)
    grid = (batch, _cdiv(n_out, block))
    with _launch(t_in.device) as kernels:
        kernels.relpsp_forward_kernel[grid](
            sorted_t.contiguous(),
            order.contiguous(),
            n_finite,
            weight_t,
            theta,
            t_out,
            n_causal,
            slope,
            n_in,
            n_out,
            BLOCK_O=block,
            num_warps=_warps(block),
            enable_fp_fusion=False,  # no FMA: the same roundings as the reference
        )
    return ForwardResult(t_out, order, n_causal, slope)


def _cdiv(a: int, b: int) -> int:
    return -(-a // b)


@torch.compiler.disable
def backward(
    a: Tensor,
    t_in: Tensor,
    t_out: Tensor,
    weight: Tensor,
    order: Tensor,
    n_causal: Tensor,
    need_input_grad: bool = True,
    need_weight_grad: bool = True,
) -> tuple[Tensor | None, Tensor | None]:
    """STDBP gradients given a = dL/dt_out / S (zero where silent). Returns (dL/dt_in, dL/dW)."""
    batch, n_in = t_in.shape
    n_out = weight.shape[0]
    device = t_in.device
    grad_in = torch.zeros((batch, n_in), dtype=torch.float64, device=device)
    grad_w_t = torch.zeros((n_in, n_out), dtype=torch.float64, device=device)
    if batch > 0 and n_out > 0 and n_in > 0 and (need_input_grad or need_weight_grad):
        block = _block(n_out)
        grid = (batch, _cdiv(n_out, block))
        with _launch(device) as kernels:
            kernels.relpsp_backward_kernel[grid](
                a.detach().contiguous(),
                t_in.detach().contiguous(),
                t_out.detach().contiguous(),
                weight.detach().t().contiguous(),
                order.contiguous(),
                n_causal.contiguous(),
                grad_in,
                grad_w_t,
                n_in,
                n_out,
                NEED_IN=bool(need_input_grad),
                NEED_W=bool(need_weight_grad),
                BLOCK_O=block,
                num_warps=_warps(block),
                enable_fp_fusion=False,
            )
    g_in = grad_in.to(t_in.dtype) if need_input_grad else None
    g_w = grad_w_t.to(weight.dtype).T if need_weight_grad else None
    return g_in, g_w
