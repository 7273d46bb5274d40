"""Fast CPU backend of the event-driven ReL-PSP kernel (numba, parallel over samples).

Same interface and meaning as :mod:`stdbp_plugin.kernels.reference` (the specification).

Forward, per sample: walk the inputs once in time order t_(1) <= t_(2) <= ..., updating for ALL
neurons at once (weights kept transposed, [N_in, N_out], one contiguous row per input)

    S_k = S_{k-1} + w_(k),   P_k = P_{k-1} + w_(k) t_(k)        (float64 accumulation)

and, at the end of each group of tied inputs, fire every not-yet-fired neuron with S_k > 0 and
S_k t_(k+1) - P_k >= theta (always, after the last finite input): t_j = (theta + P_k) / S_k,
clamped into [t_(k), t_(k+1)]. The walk stops once every neuron has fired or the finite inputs
run out.

Backward, per sample, with a_bj = dL/dt_bj / S_bj and input i causal for j iff
rank(i) < n_causal[b, j]:

    dW[j, i] += a_bj (t_bi - t_bj),     dt_in[b, i] += a_bj W[j, i]

walking the sorted inputs once: a neuron's a_bj is zeroed when the walk leaves its causal prefix,
so the inner loop always runs contiguously over all neurons. Each thread owns a dW buffer;
the buffers are summed at the end (no races).
"""

from __future__ import annotations

import numba
import numpy as np
import torch
from numba import prange
from torch import Tensor

from stdbp_plugin.kernels.result import ForwardResult

__all__ = ["PARALLEL", "backward", "forward", "num_chunks"]


# Where the chunks of one call run when there are several: "torch" = torch's own OpenMP team
# (stdbp_plugin.kernels.torch_team; no second thread pool, so no fight with torch's spinning
# threads whatever was imported first), "numba" = numba's parallel loop on numba's threading
# layer (its own pool; the mechanism before, kept as the fallback where torch does not run on
# OpenMP). "auto" = "torch" where available. benchmarks/bench_import_order.py compares them.
PARALLEL = "auto"


def _team():
    if PARALLEL == "numba":
        return None
    from stdbp_plugin.kernels.torch_team import team

    found = team()
    if found is None and PARALLEL == "torch":
        raise RuntimeError("torch's OpenMP runtime was not found (torch not built with OpenMP?)")
    return found


def num_chunks(batch: int) -> int:
    """Work chunks = threads used: min(torch threads, batch), at least 1 (and at most numba's
    thread count where numba's own pool runs them)."""
    chunks = min(torch.get_num_threads(), batch)
    if chunks > 1 and _team() is None:
        chunks = min(chunks, numba.get_num_threads())
    return max(1, chunks)


def _numpy(t: Tensor) -> np.ndarray:
    """A contiguous numpy view (or copy) of a CPU tensor, detached from autograd."""
    if t.device.type != "cpu":
        raise ValueError(f"the numba backend runs on CPU tensors only, got device {t.device}")
    return t.detach().contiguous().numpy()


@numba.njit(parallel=True, fastmath=False, cache=True)
def _forward_parallel(t_in, order, weight_t, theta, n_chunks, t_out, n_causal, slope):
    batch = t_in.shape[0]
    for c in prange(n_chunks):
        start, stop = c * batch // n_chunks, (c + 1) * batch // n_chunks
        _forward_rows(t_in, order, weight_t, theta, start, stop, t_out, n_causal, slope)


@numba.njit(fastmath=False, cache=True, nogil=True)
def _forward_range(t_in, order, weight_t, theta, start, stop, t_out, n_causal, slope):
    """Samples start..stop-1 on the calling thread, without the GIL."""
    _forward_rows(t_in, order, weight_t, theta, start, stop, t_out, n_causal, slope)


@numba.njit(fastmath=False, cache=True)
def _forward_rows(t_in, order, weight_t, theta, start, stop, t_out, n_causal, slope):
    """The forward walk for samples start..stop-1 (one thread's share)."""
    n_in = t_in.shape[1]
    n_out = weight_t.shape[1]
    s = np.empty(n_out, np.float64)
    p = np.empty(n_out, np.float64)
    k_fire = np.empty(n_out, np.int64)  # n_causal once fired, 0 while not
    s_fire = np.empty(n_out, np.float64)
    p_fire = np.empty(n_out, np.float64)
    for b in range(start, stop):
        order[b] = np.argsort(t_in[b], kind="mergesort")  # stable, +inf last
        s[:] = 0.0
        p[:] = 0.0
        k_fire[:] = 0
        s_fire[:] = 0.0
        p_fire[:] = 0.0
        n_fired = 0
        for k in range(n_in):
            i = order[b, k]
            t_k = np.float64(t_in[b, i])
            if not np.isfinite(t_k) or n_fired == n_out:
                break
            w_row = weight_t[i]
            for j in range(n_out):
                w = np.float64(w_row[j])
                s[j] += w
                p[j] += w * t_k
            t_next = np.float64(t_in[b, order[b, k + 1]]) if k + 1 < n_in else np.inf
            if not t_next > t_k:
                continue  # inside a group of tied inputs: test at its end only
            # Branch-free (vectorisable) crossing test; after the last finite input
            # t_next = inf and S > 0 makes S t_next - P = inf >= theta.
            for j in range(n_out):
                new = (k_fire[j] == 0) & (s[j] > 0.0) & (s[j] * t_next - p[j] >= theta[j])
                k_fire[j] = k + 1 if new else k_fire[j]
                s_fire[j] = s[j] if new else s_fire[j]
                p_fire[j] = p[j] if new else p_fire[j]
                n_fired += np.int64(new)
        for j in range(n_out):
            k = k_fire[j]
            n_causal[b, j] = k
            if k == 0:
                t_out[b, j] = np.inf
                slope[b, j] = 0.0
                continue
            lo = np.float64(t_in[b, order[b, k - 1]])
            hi = np.float64(t_in[b, order[b, k]]) if k < n_in else np.inf
            t_j = (theta[j] + p_fire[j]) / s_fire[j]
            t_out[b, j] = min(max(t_j, lo), hi)  # rounding guard: stay in the segment
            slope[b, j] = s_fire[j]


@numba.njit(fastmath=False, cache=True, inline="always")
def _dot4(x, y):
    """sum_j x[j] y[j] in float64 with 4 interleaved partial sums (a fixed, deterministic order
    that does not wait on one running sum)."""
    n = x.shape[0]
    acc0 = acc1 = acc2 = acc3 = 0.0
    j = 0
    while j + 4 <= n:
        acc0 += x[j] * y[j]
        acc1 += x[j + 1] * y[j + 1]
        acc2 += x[j + 2] * y[j + 2]
        acc3 += x[j + 3] * y[j + 3]
        j += 4
    acc = (acc0 + acc1) + (acc2 + acc3)
    while j < n:
        acc += x[j] * y[j]
        j += 1
    return acc


@numba.njit(parallel=True, fastmath=False, cache=True)
def _backward_parallel(
    a, t_in, t_out, weight_t, order, n_causal, n_chunks, need_in, need_w, grad_in, grad_w_t
):
    batch = t_in.shape[0]
    for c in prange(n_chunks):
        start, stop = c * batch // n_chunks, (c + 1) * batch // n_chunks
        _backward_rows(
            a,
            t_in,
            t_out,
            weight_t,
            order,
            n_causal,
            start,
            stop,
            need_in,
            need_w,
            grad_in,
            grad_w_t[c],
        )


@numba.njit(fastmath=False, cache=True, nogil=True)
def _backward_range(
    a, t_in, t_out, weight_t, order, n_causal, start, stop, need_in, need_w, grad_in, grad_w_t
):
    """Samples start..stop-1 into the dW buffer grad_w_t [I, O], without the GIL."""
    _backward_rows(
        a, t_in, t_out, weight_t, order, n_causal, start, stop, need_in, need_w, grad_in, grad_w_t
    )


@numba.njit(fastmath=False, cache=True)
def _backward_rows(
    a, t_in, t_out, weight_t, order, n_causal, start, stop, need_in, need_w, grad_in, grad_w_t
):
    """The backward walk for samples start..stop-1 into one thread's dW buffer [I, O]."""
    n_in = t_in.shape[1]
    n_out = weight_t.shape[1]
    act = np.empty(n_out, np.float64)  # a_bj while input k is still causal for j, else 0
    act_t = np.empty(n_out, np.float64)  # a_bj * t_bj, same mask
    n_ending = np.empty(n_in + 1, np.int64)
    starts = np.empty(n_in + 2, np.int64)
    ending = np.empty(n_out, np.int64)  # neurons grouped by n_causal (a bucket sort)
    for b in range(start, stop):
        n_ending[:] = 0
        max_causal = 0
        for j in range(n_out):
            nc = n_causal[b, j]
            a_j = np.float64(a[b, j])
            if nc > 0 and a_j != 0.0:
                act[j] = a_j
                act_t[j] = a_j * np.float64(t_out[b, j])
                n_ending[nc] += 1
                max_causal = max(max_causal, nc)
            else:
                act[j] = 0.0
                act_t[j] = 0.0
        starts[0] = 0
        for k in range(n_in + 1):
            starts[k + 1] = starts[k] + n_ending[k]
        fill = starts[: n_in + 1].copy()
        for j in range(n_out):
            if act[j] != 0.0:
                nc = n_causal[b, j]
                ending[fill[nc]] = j
                fill[nc] += 1
        for k in range(max_causal):
            for m in range(starts[k], starts[k + 1]):  # leaving these neurons' causal sets
                act[ending[m]] = 0.0
                act_t[ending[m]] = 0.0
            i = order[b, k]
            w_row = weight_t[i]
            if need_w:
                t_i = np.float64(t_in[b, i])
                g_row = grad_w_t[i]
                for j in range(n_out):
                    g_row[j] += act[j] * t_i - act_t[j]
            if need_in:
                grad_in[b, i] = _dot4(act, w_row)


def forward(t_in: Tensor, weight: Tensor, threshold: Tensor) -> ForwardResult:
    """Exact first-crossing times. t_in [B, I], weight [O, I], threshold [O] (CPU tensors)."""
    batch, n_in = t_in.shape
    n_out = weight.shape[0]
    order = np.empty((batch, n_in), dtype=np.int64)
    t_np = _numpy(t_in)
    weight_t = _numpy(weight.t())
    theta = _numpy(threshold).astype(np.float64)
    t_out = np.empty((batch, n_out), dtype=t_np.dtype)
    n_causal = np.empty((batch, n_out), dtype=np.int64)
    slope = np.empty((batch, n_out), dtype=t_np.dtype)
    if batch > 0:
        chunks = num_chunks(batch)
        team = _team() if chunks > 1 else None
        if chunks == 1:  # no parallel region: its thread pool costs time slices on a busy machine
            _forward_range(t_np, order, weight_t, theta, 0, batch, t_out, n_causal, slope)
        elif team is not None:

            def work(c: int) -> None:
                start, stop = c * batch // chunks, (c + 1) * batch // chunks
                _forward_range(t_np, order, weight_t, theta, start, stop, t_out, n_causal, slope)

            team.run(chunks, work)
        else:
            _forward_parallel(t_np, order, weight_t, theta, chunks, t_out, n_causal, slope)
    return ForwardResult(
        torch.from_numpy(t_out),
        torch.from_numpy(order),
        torch.from_numpy(n_causal),
        torch.from_numpy(slope),
    )


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
    chunks = num_chunks(batch)
    t_np = _numpy(t_in)
    grad_in = np.zeros((batch, n_in) if need_input_grad else (0, 0), dtype=t_np.dtype)
    # one weight-gradient buffer per thread, in the tensors' dtype (each entry is still computed
    # in float64 before it is added), summed in place into the first: peak memory matters here
    w_shape = (chunks, n_in, n_out) if need_weight_grad else (chunks, 0, 0)
    grad_w_t = np.zeros(w_shape, dtype=t_np.dtype)
    if batch > 0 and (need_input_grad or need_weight_grad):
        args = (_numpy(a), t_np, _numpy(t_out), _numpy(weight.t()), _numpy(order), _numpy(n_causal))
        flags = (need_input_grad, need_weight_grad, grad_in)
        team = _team() if chunks > 1 else None
        if chunks == 1:
            _backward_range(*args, 0, batch, *flags, grad_w_t[0])
        elif team is not None:

            def work(c: int) -> None:
                start, stop = c * batch // chunks, (c + 1) * batch // chunks
                _backward_range(*args, start, stop, *flags, grad_w_t[c])

            team.run(chunks, work)
        else:
            _backward_parallel(*args, chunks, *flags, grad_w_t)
    g_in = torch.from_numpy(grad_in) if need_input_grad else None
    g_w = None
    if need_weight_grad:
        total = grad_w_t[0]
        for c in range(1, chunks):
            total += grad_w_t[c]
        g_w = torch.from_numpy(total).T  # [O, I] view of the [I, O] buffer
    return g_in, g_w
