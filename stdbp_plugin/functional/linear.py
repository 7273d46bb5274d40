"""The event-driven ReL-PSP fully connected layer and its exact STDBP gradient."""

from __future__ import annotations

import torch
from torch import Tensor

from stdbp_plugin.functional.known_valid import is_known_valid, mark_valid
from stdbp_plugin.functional.validation import (
    as_threshold,
    check_number,
    check_same,
    check_spike_times,
    raise_bad_spike_times,
    threshold_ok,
)
from stdbp_plugin.kernels import resolve_backend


def sync_is_free(device: torch.device) -> bool:
    """Whether reading a tensor value on the host costs no device sync (CPU tensors)."""
    return device.type == "cpu"


def transposed_rows(weight: Tensor, bias: Tensor | None) -> Tensor | None:
    """[bias; weight^T], the contiguous [1 + N_in, N_out] rows the numba kernel walks (weight^T
    [N_in, N_out] without a bias), as a view of the parameters when they already lie so in one
    storage (ReLPSPLinear's layout), else None. Reads no values: strides and offsets only."""
    rows = weight.t()
    if not rows.is_contiguous():
        return None
    if bias is None:
        return rows
    n_out = weight.shape[0]
    start = bias.storage_offset()
    if not (
        bias.is_contiguous()
        and bias.dtype == weight.dtype
        and weight.storage_offset() == start + n_out
        and bias.untyped_storage().data_ptr() == weight.untyped_storage().data_ptr()
    ):
        return None
    return weight.as_strided((weight.shape[1] + 1, n_out), (n_out, 1), start)


class _ReLPSPLinear(torch.autograd.Function):
    """t_out = (theta + P_k) / S_k at the first crossing; backward = STDBP (see relpsp_linear)."""

    @staticmethod
    def forward(ctx, t_in, weight, bias, threshold, kernel, max_inv_slope, horizon):
        if bias is not None:
            t_in = torch.cat([t_in.new_zeros(t_in.shape[0], 1), t_in], dim=1)
        if getattr(kernel, "WEIGHT_TRANSPOSED", False):
            # [N_out, N_in] view of the contiguous [N_in, N_out] rows the kernel walks: the
            # parameters themselves where they lie so (ReLPSPLinear's layout), else one copy
            # per call (bias included) shared by forward and backward
            rows = transposed_rows(weight, bias)
            if rows is None:
                rows = weight.t() if bias is None else torch.cat([bias[None, :], weight.t()], 0)
                rows = rows.contiguous()
            weight = rows.t()
        elif bias is not None:
            weight = torch.cat([bias[:, None], weight], dim=1)
        # (theta + P) / S overflows to +inf when S is denormal-small: that neuron is silent
        # (else backward computes 0 * (1/S = inf) = NaN for it). Masked unconditionally: no
        # host read of a value (a device sync on a GPU) in the layer's hot path.
        # The slope of a silent neuron is never read (backward uses n_causal > 0 only).
        if hasattr(kernel, "layer_forward"):  # the numba kernel applies the masks itself
            t_out, order, n_causal, slope = kernel.layer_forward(t_in, weight, threshold, horizon)
        else:
            t_out, order, n_causal, slope = kernel.forward(t_in, weight, threshold)
            silent = torch.isinf(t_out)
            if horizon is not None:
                silent = silent | (t_out > horizon)
                t_out = t_out.masked_fill(silent, float("inf"))
            n_causal.masked_fill_(silent, 0)  # the kernel's own fresh outputs: edited in place
            slope.masked_fill_(silent, 0.0)
        ctx.save_for_backward(t_in, weight, t_out, order, n_causal, slope)
        ctx.kernel = kernel
        ctx.has_bias = bias is not None
        ctx.max_inv_slope = max_inv_slope
        return t_out

    @staticmethod
    def backward(ctx, grad_out):
        t_in, weight, t_out, order, n_causal, slope = ctx.saved_tensors
        need_t, need_w, need_b, need_theta = ctx.needs_input_grad[:4]
        kernel, need_grad_w = ctx.kernel, need_w or need_b
        if hasattr(kernel, "layer_backward"):  # a = g / S in the kernel (same values)
            grad_t, grad_w, a, silent = kernel.layer_backward(
                grad_out, slope, ctx.max_inv_slope, t_in, t_out, weight, order, n_causal,
                need_t, need_grad_w,
            )  # fmt: skip
        else:
            grad = torch.where(torch.isfinite(grad_out), grad_out, 0.0)  # scalars: no fills
            fired = n_causal > 0
            inv_slope = torch.where(fired, 1.0 / torch.where(fired, slope, 1.0), 0.0)
            if ctx.max_inv_slope is not None:
                inv_slope = inv_slope.clamp(max=ctx.max_inv_slope)
            a = grad * inv_slope
            grad_t, grad_w = kernel.backward(
                a, t_in, t_out, weight, order, n_causal, need_t, need_grad_w
            )
            silent = None  # not known without reading the values
        # A gradient that reaches a silent output (only temporal_cross_entropy's
        # keep_target_alive sends one) acts as dt_j/dw_ji = -1 for every input i that spiked.
        # On CPU a host read is free and the product is not; on a GPU the reverse.
        if grad_w is not None and silent is not False:
            grad = torch.where(torch.isfinite(grad_out), grad_out, 0.0)
            silent_grad = torch.where(n_causal > 0, 0.0, grad)
            if not sync_is_free(grad.device) or silent or silent_grad.any():
                grad_w = grad_w - silent_grad.T @ torch.isfinite(t_in).to(grad.dtype)
        grad_theta = a.sum(0) if need_theta else None
        grad_b = None
        if ctx.has_bias:
            grad_t = grad_t[:, 1:] if grad_t is not None else None
            if grad_w is not None:
                grad_b, grad_w = grad_w[:, 0], grad_w[:, 1:]
        return grad_t, grad_w if need_w else None, grad_b, grad_theta, None, None, None


def relpsp_linear(
    t_in: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    threshold: float | Tensor = 1.0,
    backend: str = "auto",
    max_inv_slope: float | None = None,
    horizon: float | None = None,
) -> Tensor:
    """Spike times of a fully connected layer of ReL-PSP neurons (one spike each, +inf = none).

    V_j(t) = b_j K(t) + sum_i w_ji K(t - t_i) with K(x) = max(0, x); the neuron spikes at the first
    t with V_j(t) = theta_j: t_j = (theta_j + sum_{i in C_j} w_ji t_i) / S_j, where C_j is the
    causal set (inputs before the crossing) and S_j = sum_{i in C_j} w_ji > 0 the slope there.

    The backward pass is STDBP: dt_j/dw_ji = (t_i - t_j) / S_j, dt_j/dt_i = w_ji / S_j,
    dt_j/dtheta_j = 1 / S_j for i in C_j; zero otherwise and for silent neurons.

    Args:
        t_in: input spike times [..., N_in], >= 0 or +inf.
        weight: [N_out, N_in] (``nn.Linear`` layout). bias: [N_out], an input spike at t = 0.
        threshold: a float, or a scalar / [N_out] tensor (may require grad). Must be > 0.
        backend: "auto" (numba on CPU, triton on CUDA, else torch), "torch" (the reference),
            "numba" (CPU) or "triton" (CUDA; CPU only under TRITON_INTERPRET=1).
        max_inv_slope: optional clamp of 1/S_j in the backward pass. Off (None) = exact STDBP.
            A neuron that crosses with a shallow slope S_j gets a large gradient (1/S_j); the
            clamp bounds it at the price of a biased (no longer exact) gradient for those neurons.
        horizon: optional end of the simulated time; a spike later than it counts as silent.

    Returns:
        t_out [..., N_out].
    """
    check_spike_times(t_in, "t_in", tuple(range(2, 9)), values=False)
    if horizon is not None:
        check_number(horizon, "horizon")
    theta, kernel = check_linear_args(
        t_in, weight, bias, threshold, backend, max_inv_slope, values=False
    )
    check_values(t_in, "t_in", threshold, theta)
    n_out, n_in = weight.shape
    lead = t_in.shape[:-1]
    t_flat = t_in.reshape(-1, n_in)
    t_out = _ReLPSPLinear.apply(t_flat, weight, bias, theta, kernel, max_inv_slope, horizon)
    return mark_valid(t_out.reshape(*lead, n_out))


def check_linear_args(
    t_in: Tensor,
    weight: Tensor,
    bias: Tensor | None,
    threshold: float | Tensor,
    backend: str,
    max_inv_slope: float | None,
    values: bool = True,
):
    """Validate relpsp_linear's arguments; returns (threshold tensor [N_out], kernel module).

    ``values=False`` leaves a tensor threshold's values to :func:`check_values`."""
    if not isinstance(weight, Tensor) or weight.ndim != 2:
        raise ValueError(
            f"weight must be a 2-D tensor [N_out, N_in], got {getattr(weight, 'shape', weight)}"
        )
    check_same(t_in, "t_in", weight, "weight")
    check_same(t_in, "t_in", bias, "bias")
    n_out, n_in = weight.shape
    if t_in.shape[-1] != n_in:
        raise ValueError(f"t_in has {t_in.shape[-1]} inputs (last dim) but weight expects {n_in}")
    if bias is not None and bias.shape != (n_out,):
        raise ValueError(f"bias must have shape ({n_out},), got {tuple(bias.shape)}")
    if max_inv_slope is not None:
        check_number(max_inv_slope, "max_inv_slope")
    theta = as_threshold(threshold, n_out, t_in, values=values)
    return theta, resolve_backend(backend, t_in.device)


def check_values(t_in: Tensor, name: str, threshold: float | Tensor, theta: Tensor) -> None:
    """The value checks of a layer call in one reduction, i.e. at most one host read (one
    device sync on a GPU): spike times >= 0 (no NaN) unless ``t_in`` came from one of this
    package's layers unchanged (see known_valid), and a tensor threshold finite and > 0."""
    ok = None if is_known_valid(t_in) else (t_in >= 0).all()
    if isinstance(threshold, Tensor):
        ok = threshold_ok(theta) if ok is None else ok & threshold_ok(theta)
    if ok is not None and not bool(ok):
        if not bool((t_in >= 0).all()):
            raise_bad_spike_times(t_in, name)
        raise ValueError("threshold must be finite and > 0")
