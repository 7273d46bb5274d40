"""The Triton programs of the ReL-PSP kernel (launched by :mod:`stdbp_plugin.kernels.triton_backend`).

One program per (sample b, block of BLOCK_O output neurons) walks that sample's inputs in time
order t_(1) <= t_(2) <= ... (sorted beforehand; ``order`` maps rank -> input index), with float64
accumulators for its neurons:

    forward:   S += w_(k),  P += w_(k) t_(k);  at the end of a group of tied inputs
               (t_(k+1) > t_(k)) a neuron that has not fired fires if S > 0 and
               S t_(k+1) - P >= theta (t_(k+1) = +inf after the last input); then
               t_j = (theta + P) / S clamped into [t_(k), t_(k+1)], n_causal = k, slope = S.
    backward:  for k < n_causal[b, j]:  dW[j, i] += a_bj (t_bi - t_bj),  dt_in[b, i] += a_bj W[j, i]
               (i = order[b, k]; atomic float64 adds, since several programs share i).

This file is loaded by the backend twice at most: once compiled (CUDA) and once with
TRITON_INTERPRET=1 (Triton's CPU interpreter, used by the tests), see ``triton_backend``.
"""

import triton
import triton.language as tl

# Only Triton's builtins (tl.full, tl.reduce, ...) and the combine functions of tl.sum / tl.max,
# not its @jit'd library helpers (tl.zeros, tl.sum, tl.max): those are compiled or interpreted
# once, when triton is first imported, while these programs are loaded interpreted or compiled
# on demand (see triton_backend._kernels). The interpreter recognises tl.sum's and tl.max's
# combine functions by identity and reduces with numpy (a generic combine is ~100x slower);
# compiled, the combine functions are inlined like any @jit function.


@triton.jit
def _add(x, y):
    return x + y


@triton.jit
def _max(x, y):
    return tl.maximum(x, y)


_SUM = getattr(tl.standard, "_sum_combine", _add)
_MAX = getattr(tl.standard, "_elementwise_max", _max)


@triton.jit
def relpsp_forward_kernel(
    sorted_t_ptr,  # [B, I] each sample's input times, ascending (+inf last)
    order_ptr,  # [B, I] int64: input index of each rank
    n_finite_ptr,  # [B] int32: number of finite inputs of each sample
    weight_t_ptr,  # [I, O] the weights, one contiguous row per input
    theta_ptr,  # [O] float64
    t_out_ptr,  # [B, O] out
    n_causal_ptr,  # [B, O] int64 out
    slope_ptr,  # [B, O] out
    n_in,
    n_out,
    BLOCK_O: tl.constexpr,
):
    b = tl.program_id(0).to(tl.int64)
    offs = tl.program_id(1) * BLOCK_O + tl.arange(0, BLOCK_O)
    live = offs < n_out
    theta = tl.load(theta_ptr + offs, mask=live, other=1.0).to(tl.float64)
    row = b * n_in
    n_fin = tl.load(n_finite_ptr + b)
    s = tl.full([BLOCK_O], 0.0, tl.float64)
    p = tl.full([BLOCK_O], 0.0, tl.float64)
    s_fire = tl.full([BLOCK_O], 0.0, tl.float64)
    p_fire = tl.full([BLOCK_O], 0.0, tl.float64)
    k_fire = tl.full([BLOCK_O], 0, tl.int32)
    n_left = tl.reduce(live.to(tl.int32), 0, _SUM)
    k = 0
    while (k < n_fin) & (n_left > 0):
        i = tl.load(order_ptr + row + k)
        t_k = tl.load(sorted_t_ptr + row + k).to(tl.float64)
        t_next = tl.load(sorted_t_ptr + row + k + 1, mask=k + 1 < n_in, other=float("inf"))
        t_next = t_next.to(tl.float64)
        w = tl.load(weight_t_ptr + i * n_out + offs, mask=live, other=0.0).to(tl.float64)
        s += w
        p += w * t_k
        # t_next broadcast to a block first: Triton's interpreter cannot `&` a scalar and a block
        t_nb = tl.full([BLOCK_O], 0.0, tl.float64) + t_next
        last = t_nb == float("inf")  # after the last finite input: S > 0 suffices
        crosses = last | (s * tl.where(last, 0.0, t_nb) - p >= theta)
        new = live & (k_fire == 0) & (t_nb > t_k) & (s > 0.0) & crosses
        k_fire = tl.where(new, k + 1, k_fire)
        s_fire = tl.where(new, s, s_fire)
        p_fire = tl.where(new, p, p_fire)
        n_left -= tl.reduce(new.to(tl.int32), 0, _SUM)
        k += 1
    fired = k_fire > 0
    t_j = (theta + p_fire) / tl.where(fired, s_fire, 1.0)
    lo = tl.load(sorted_t_ptr + row + k_fire - 1, mask=fired, other=0.0).to(tl.float64)
    hi = tl.load(sorted_t_ptr + row + k_fire, mask=fired & (k_fire < n_in), other=float("inf"))
    t_j = tl.minimum(tl.maximum(t_j, lo), hi.to(tl.float64))  # rounding guard: stay in segment
    t_j = tl.where(fired, t_j, float("inf"))
    out = b * n_out + offs
    tl.store(t_out_ptr + out, t_j.to(t_out_ptr.dtype.element_ty), mask=live)
    tl.store(n_causal_ptr + out, k_fire.to(tl.int64), mask=live)
    slope = tl.where(fired, s_fire, 0.0)
    tl.store(slope_ptr + out, slope.to(slope_ptr.dtype.element_ty), mask=live)


@triton.jit
def relpsp_backward_kernel(
    a_ptr,  # [B, O] dL/dt_out / S (0 where silent)
    t_in_ptr,  # [B, I] input times (input order)
    t_out_ptr,  # [B, O]
    weight_t_ptr,  # [I, O]
    order_ptr,  # [B, I] int64
    n_causal_ptr,  # [B, O] int64
    grad_in_ptr,  # [B, I] float64, zeroed, accumulated
    grad_w_t_ptr,  # [I, O] float64, zeroed, accumulated
    n_in,
    n_out,
    NEED_IN: tl.constexpr,
    NEED_W: tl.constexpr,
    BLOCK_O: tl.constexpr,
):
    b = tl.program_id(0).to(tl.int64)
    offs = tl.program_id(1) * BLOCK_O + tl.arange(0, BLOCK_O)
    live = offs < n_out
    row = b * n_in
    out = b * n_out + offs
    nc = tl.load(n_causal_ptr + out, mask=live, other=0).to(tl.int32)
    a = tl.load(a_ptr + out, mask=live, other=0.0).to(tl.float64)
    use = (nc > 0) & (a != 0.0)
    nc = tl.where(use, nc, 0)
    a = tl.where(use, a, 0.0)
    t_o = tl.load(t_out_ptr + out, mask=use, other=0.0).to(tl.float64)
    a_t = tl.where(use, a * t_o, 0.0)
    k_max = tl.reduce(nc, 0, _MAX)
    for k in range(0, k_max):
        i = tl.load(order_ptr + row + k)
        causal = k < nc
        act = tl.where(causal, a, 0.0)
        if NEED_W:
            t_i = tl.load(t_in_ptr + row + i).to(tl.float64)
            g = act * t_i - tl.where(causal, a_t, 0.0)
            tl.atomic_add(grad_w_t_ptr + i * n_out + offs, g, mask=causal)
        if NEED_IN:
            w = tl.load(weight_t_ptr + i * n_out + offs, mask=causal, other=0.0).to(tl.float64)
            tl.atomic_add(grad_in_ptr + row + i, tl.reduce(act * w, 0, _SUM))
