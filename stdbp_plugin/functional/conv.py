"""Event-driven ReL-PSP convolution and earliest-spike pooling over spike-time maps."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from stdbp_plugin.functional.known_valid import is_known_valid, mark_valid
from stdbp_plugin.functional.linear import _ReLPSPLinear, check_linear_args, check_values
from stdbp_plugin.functional.validation import check_number, check_spike_times


def _pair(v: int | tuple[int, int], name: str, low: int) -> tuple[int, int]:
    """An int or a pair of ints, each >= ``low`` (bools, floats and strings refused)."""
    pair = (v, v) if isinstance(v, int) else tuple(v) if isinstance(v, (tuple, list)) else None
    if (
        pair is None
        or len(pair) != 2
        or any(isinstance(x, bool) or not isinstance(x, int) or x < low for x in pair)
    ):
        raise ValueError(f"{name} must be an int >= {low} or a pair of them, got {v!r}")
    return pair


def relpsp_conv2d(
    t_in: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    threshold: float | Tensor = 1.0,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] = 0,
    backend: str = "auto",
    max_inv_slope: float | None = None,
    horizon: float | None = None,
) -> Tensor:
    """ReL-PSP convolution: each output neuron applies relpsp_linear to its receptive field.

    t_in [B, C, H, W] spike times; weight [O, C, kh, kw] (``nn.Conv2d`` layout); padding adds
    inputs that never spike (+inf). Returns [B, O, H_out, W_out] spike times.

    The numba backend walks each field straight from the map (kernels/numba_conv.py); the
    others unfold every field into a row for the relpsp_linear kernel (same results).
    """
    check_spike_times(t_in, "t_in", 4, values=False)
    if horizon is not None:
        check_number(horizon, "horizon")
    if not isinstance(weight, Tensor) or weight.ndim != 4:
        raise ValueError(
            f"weight must be a 4-D tensor [O, C, kh, kw], got {getattr(weight, 'shape', weight)}"
        )
    if t_in.shape[1] != weight.shape[1]:
        raise ValueError(f"t_in has {t_in.shape[1]} channels but weight expects {weight.shape[1]}")
    out_ch, _, kh, kw = weight.shape
    source = t_in  # its values are checked below (a tag survives on it, not on the padded copy)
    ph, pw = _pair(padding, "padding", 0)
    sh, sw = _pair(stride, "stride", 1)
    if ph or pw:
        t_in = F.pad(t_in, (pw, pw, ph, ph), value=float("inf"))
    batch, _, height, width = t_in.shape
    if height < kh or width < kw:
        raise ValueError(f"t_in (padded {height}x{width}) is smaller than the kernel {kh}x{kw}")
    w_rows = weight.reshape(out_ch, -1)
    # relpsp_linear's checks of the fields' rows (of which only width, device and dtype count)
    theta, kernel = check_linear_args(
        t_in.new_empty(0, w_rows.shape[1]), w_rows, bias, threshold, backend, max_inv_slope, False
    )
    check_values(source, "t_in", threshold, theta)
    if kernel.__name__ == "stdbp_plugin.kernels.numba_cpu":  # the direct walk over the map
        args = (theta, (kh, kw), (sh, sw), max_inv_slope, horizon)
        return mark_valid(_ReLPSPConv2d.apply(t_in, weight, bias, *args))
    h_out = (height - kh) // sh + 1
    w_out = (width - kw) // sw + 1
    patches = F.unfold(t_in, (kh, kw), stride=(sh, sw))  # [B, C*kh*kw, L]
    rows = patches.transpose(1, 2).reshape(batch * h_out * w_out, -1)
    t_out = _ReLPSPLinear.apply(rows, w_rows, bias, theta, kernel, max_inv_slope, horizon)
    return mark_valid(t_out.reshape(batch, h_out, w_out, out_ch).permute(0, 3, 1, 2))


class _ReLPSPConv2d(torch.autograd.Function):
    """relpsp_conv2d on the numba backend: :mod:`stdbp_plugin.kernels.numba_conv` walks each
    receptive field straight from the (padded) map and scatters dL/dt_in back into it."""

    @staticmethod
    def forward(ctx, t_map, weight, bias, threshold, kernel_size, stride, max_inv_slope, horizon):
        from stdbp_plugin.kernels import numba_conv

        out_ch = weight.shape[0]
        columns = weight.reshape(out_ch, -1).t()  # [C kh kw, O], the rows the walk reads
        if bias is not None:
            columns = torch.cat([bias[None, :], columns], 0)
        weight_t = columns.contiguous()
        fwd = numba_conv.forward(
            t_map, weight_t, threshold, kernel_size, stride, bias is not None, horizon
        )
        t_out = fwd.t_out
        ctx.save_for_backward(t_map, weight_t, t_out)
        # the output only through save_for_backward: held as ctx.fwd.t_out it would close a
        # reference cycle (output -> grad_fn -> ctx -> output) that keeps every step's walk
        # state (order, n_causal, slope: ~10 MB per 32C5 call at batch 64) alive until
        # Python's cyclic GC runs
        fwd.t_out = None
        ctx.fwd, ctx.max_inv_slope, ctx.weight_shape = fwd, max_inv_slope, weight.shape
        ctx.has_bias = bias is not None
        return t_out

    @staticmethod
    def backward(ctx, grad_out):
        from stdbp_plugin.kernels import numba_conv

        t_map, weight_t, t_out = ctx.saved_tensors
        need_t, need_w, need_b, need_theta = ctx.needs_input_grad[:4]
        grad_t, grad_w_t, grad_theta = numba_conv.backward(
            grad_out, t_map, t_out, weight_t, ctx.fwd, ctx.max_inv_slope, need_t, need_w or need_b
        )
        grad_b = grad_w_t[0] if ctx.has_bias and need_b else None
        grad_w = None
        if need_w:  # [bias + C kh kw, O] -> the nn.Conv2d layout
            grad_w = grad_w_t[int(ctx.has_bias) :].t().reshape(ctx.weight_shape)
        return grad_t, grad_w, grad_b, grad_theta if need_theta else None, None, None, None, None


def earliest_spike_pool2d(
    t_in: Tensor, kernel_size: int | tuple[int, int], stride: int | tuple[int, int] | None = None
) -> Tensor:
    """Pooling in time: the earliest spike of each window wins, min(t) = -maxpool(-t).

    The gradient flows to the winning input only (ties: the first in row-major order, as
    max_pool2d's). float32 / float64 CPU tensors run :mod:`stdbp_plugin.kernels.numba_pool`
    (bit for bit the same values and gradients, without the negations and the copy); others
    -maxpool(-t).
    """
    check_spike_times(t_in, "t_in", (3, 4), values=not is_known_valid(t_in))
    kernel = _pair(kernel_size, "kernel_size", 1)
    step = kernel if stride is None else _pair(stride, "stride", 1)
    if t_in.shape[-2] < kernel[0] or t_in.shape[-1] < kernel[1]:
        raise ValueError(
            f"t_in ({t_in.shape[-2]}x{t_in.shape[-1]}) is smaller than kernel_size {kernel}"
        )
    if (
        t_in.device.type == "cpu"
        and t_in.dtype in (torch.float32, torch.float64)  # numba's types
        and not torch.compiler.is_compiling()
    ):
        batched = t_in if t_in.ndim == 4 else t_in[None]
        t_out = _EarliestSpikePool2d.apply(batched, kernel, step)
        return mark_valid(t_out if t_in.ndim == 4 else t_out[0])
    # entries of a valid t_in; contiguous, so that flattening it is a view that stays trusted
    return mark_valid((-F.max_pool2d(-t_in, kernel_size, stride)).contiguous())


class _EarliestSpikePool2d(torch.autograd.Function):
    """earliest_spike_pool2d of a [B, C, H, W] CPU map (kernels/numba_pool.py)."""

    @staticmethod
    def forward(ctx, t_in, kernel_size, stride):
        from stdbp_plugin.kernels import numba_pool

        t_out, ctx.winner = numba_pool.forward(t_in, kernel_size, stride)
        ctx.in_shape = t_in.shape
        return t_out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_out):
        from stdbp_plugin.kernels import numba_pool

        return numba_pool.backward(grad_out, ctx.winner, ctx.in_shape), None, None
