"""Fast CPU backend of the event-driven ReL-PSP kernel (numba, parallel over samples).

Same interface and meaning as :mod:`stdbp_plugin.kernels.reference` (the specification).

Forward, per sample: sort the FINITE input times only (stable; the silent inputs follow in
index order), then walk them once in time order t_(1) <= t_(2) <= ..., updating for ALL neurons
at once (weights kept transposed, [N_in, N_out], one contiguous row per input)

    S_k = S_{k-1} + w_(k),   P_k = P_{k-1} + w_(k) t_(k)        (float64 accumulation)

and, at the end of each group of tied inputs, fire every not-yet-fired neuron with S_k > 0 and
S_k t_(k+1) - P_k >= theta (always, after the last finite input): t_j = (theta + P_k) / S_k,
clamped into [t_(k), t_(k+1)]. The crossing test rides in the same vectorised pass as the last
update of the group and only counts; a branch-free pass records k only when it counted some,
and a per-neuron factor (1, then 0 once fired) multiplying the weights freezes S and P at the
crossing (bit for bit the plain sums: w * 1 = w, S + 0 = S). The walk stops once every neuron
has fired or the finite inputs run out.

The forward keeps float64 sums for float32 tensors too: a float32 walk was measured 1.25x faster
at most, and its errors are not small where they matter. V(t_(k+1)) = S t_(k+1) - P cancels,
so its error is about u (sum_i |w_i| (t_i + t_(k+1))) with u = 2^-24, which moves t_j by that
over S: on MNIST 784-800-10 the largest relative t_j error was 1.4e-3, and every neuron whose
V passes within that bound of theta at a group end may change its causal set.

Backward, per sample, with a_bj = dL/dt_bj / S_bj and input i causal for j iff
rank(i) < n_causal[b, j]:

    dW[j, i] += a_bj (t_bi - t_bj),     dt_in[b, i] += a_bj W[j, i]

walking the sorted inputs once: a neuron's a_bj is zeroed when the walk leaves its causal prefix,
so the inner loop always runs contiguously over all neurons, one pass per input for both
gradients (the dot product of dt_in is summed in vector lanes: a fixed order per length, not
the sequential one). Each thread owns a dW buffer; the buffers are summed at the end (no races).

The backward computes in the tensors' dtype: float32 tensors get float32 arithmetic (8 lanes
per AVX2 vector instead of 4; 1.5x faster on that layer). It has no decisions to flip, and
its error (u = 2^-24, first order) stays within float32 accumulation's own:

- dW: each term a (t_i - t_j) is computed as fl(fl(a t_i) - fl(a t_j)); as 0 <= t_i <= t_j,
  its error is at most 2u |a| t_j. The buffer accumulates the B terms of an entry in float32,
  as it did before (error <= (B - 1) u sum |term|), so |dW32 - dW| <= (B + 1) u sum_b |a_bj|
  t_bj over the (b, j) for which i is causal (plus u |dW| per buffer sum across threads).
- dt_in: n = N_out products of error u |a w| summed in vector lanes in any fixed order:
  |dt32 - dt| <= (n + 1) u sum_j |a_bj W_ji| over the causal j.

tests/test_kernel_numba_float32.py checks both bounds against the float64 kernel on the same
values; float64 tensors keep float64 arithmetic and their bitwise tests.
"""

from __future__ import annotations

import numba
import numpy as np
import torch
from numba import prange
from torch import Tensor

from stdbp_plugin.kernels.result import ForwardResult

__all__ = ["PARALLEL", "backward", "forward", "layer_backward", "layer_forward", "num_chunks"]


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


# _ReLPSPLinear hands this kernel the weight as an [O, I] view of a contiguous [I, O] tensor
# (the transposed layout the walk reads), so neither forward nor backward copies it again.
WEIGHT_TRANSPOSED = True

RUN = 16  # the stable sort: insertion-sorted runs of this length, then merged pairwise
BUCKET_MAX = 48  # bucket order unless a bucket would hold more than this many inputs
SORT_DENSITY = 2.0  # the linear layer's buckets per finite input (see _sort_row)


@numba.njit(fastmath=False, cache=True)
def _sort_row(t_row, order_row, times, times_tmp, index_tmp, counts, density=0.5):
    """Stable argsort of one sample's times into order_row (finite inputs by time, then the
    silent ones by index, as a stable argsort puts +inf last); times[:n] = the sorted finite
    times, times[n] = inf. Only the n finite inputs are sorted, without allocation:

    - bucket order: n density buckets of equal width from the smallest time to the largest, or to
      4x the mean's distance when sooner (a monotone map, so buckets are in time order;
      ties share a bucket; later times go to the last bucket), a stable counting
      scatter, then one insertion-sort pass (it only reorders within buckets): O(n) for the
      usual spread-out or quantised times;
    - else (a bucket fuller than BUCKET_MAX: clustered times) a merge sort: insertion-sorted
      runs of RUN merged pairwise through the scratch arrays.

    counts: int64 scratch of at least int(n_in density) + 2 entries. The linear layer uses
    density 2 (a hidden layer's ~700 distinct times: 2.95 -> 2.19 ms per batch of 128 against
    density 0.5), the conv walk the default. Returns n."""
    n_in = t_row.shape[0]
    n = 0
    m = 0
    for i in range(n_in):  # compaction, branch-free: finite inputs first, silent ones apart
        v = t_row[i]
        finite = np.int64(v < np.inf)
        order_row[n] = i  # (n, m <= i: in bounds; overwritten unless it counted)
        times[n] = v
        index_tmp[m] = i
        n += finite
        m += 1 - finite
    order_row[n:n_in] = index_tmp[:m]  # the silent ones after, in index order
    times[n] = np.inf
    if n <= 1:
        return n
    lo = times[0]
    hi = times[0]
    total = 0.0
    for a in range(n):
        lo = min(lo, times[a])
        hi = max(hi, times[a])
        total += times[a]
    if not hi > lo:
        return n  # all tied: index order is the stable order
    # a long tail (hidden layers' late spikes) would crowd the rest into a few buckets: the
    # buckets span [lo, lo + 4 (mean - lo)] at most, later times share the last bucket
    hi = min(hi, lo + 4.0 * (total / n - lo))
    n_buckets = np.int64(n * density) + 1
    scale = (n_buckets - 1) / (hi - lo)
    fullest = n  # a spread too narrow for float64 buckets: merge sort
    if scale < np.inf:
        counts[: n_buckets + 1] = 0
        fullest = 0
        for a in range(n):
            k = min(np.int64((times[a] - lo) * scale), n_buckets - 1)
            counts[k + 1] += 1
            fullest = max(fullest, counts[k + 1])
    if fullest <= BUCKET_MAX:
        for k in range(n_buckets):
            counts[k + 1] += counts[k]
        for a in range(n):  # stable scatter into the scratch arrays
            k = min(np.int64((times[a] - lo) * scale), n_buckets - 1)
            times_tmp[counts[k]] = times[a]
            index_tmp[counts[k]] = order_row[a]
            counts[k] += 1
        for a in range(n):  # insertion sort: moves inputs within their bucket only
            v = times_tmp[a]
            i = index_tmp[a]
            c = a - 1
            while c >= 0 and times[c] > v:
                times[c + 1] = times[c]
                order_row[c + 1] = order_row[c]
                c -= 1
            times[c + 1] = v
            order_row[c + 1] = i
        return n
    for lo in range(0, n, RUN):  # insertion sort of each run (stable)
        hi = min(lo + RUN, n)
        for a in range(lo + 1, hi):
            v = times[a]
            i = order_row[a]
            c = a - 1
            while c >= lo and times[c] > v:
                times[c + 1] = times[c]
                order_row[c + 1] = order_row[c]
                c -= 1
            times[c + 1] = v
            order_row[c + 1] = i
    width = RUN
    src_t, src_i, dst_t, dst_i = times, order_row, times_tmp, index_tmp
    while width < n:  # stable merges of neighbouring runs, ping-pong between the buffers
        for lo in range(0, n, 2 * width):
            mid = min(lo + width, n)
            hi = min(lo + 2 * width, n)
            a, c, o = lo, mid, lo
            while a < mid and c < hi:
                if src_t[c] < src_t[a]:
                    dst_t[o] = src_t[c]
                    dst_i[o] = src_i[c]
                    c += 1
                else:
                    dst_t[o] = src_t[a]
                    dst_i[o] = src_i[a]
                    a += 1
                o += 1
            while a < mid:
                dst_t[o] = src_t[a]
                dst_i[o] = src_i[a]
                a += 1
                o += 1
            while c < hi:
                dst_t[o] = src_t[c]
                dst_i[o] = src_i[c]
                c += 1
                o += 1
        src_t, src_i, dst_t, dst_i = dst_t, dst_i, src_t, src_i
        width *= 2
    if src_t is not times:
        times[:n] = src_t[:n]
        order_row[:n] = src_i[:n]
    times[n] = np.inf
    return n


@numba.njit(fastmath=False, cache=True, inline="always")
def _walk(row, times, n, weight_t, theta, s, p, alive, k_fire):
    """The walk of one row (a sample, or a conv field) over its n finite inputs in the order
    ``row`` (times[:n] sorted, times[n] = inf): k_fire[j] = n_causal (0 = silent), S and P at
    the crossing left in s[j], p[j]. Stops once every neuron has fired.

    Per group of ties one vectorised pass adds the last input and only counts the crossings;
    a pass that counted some records them: the neuron's ``alive`` factor drops from 1 to 0,
    which freezes its S and P (w * 1 = w and S + 0 = S exactly: the plain sums' rounding)."""
    n_out = weight_t.shape[1]
    s[:] = 0.0
    p[:] = 0.0
    alive[:] = 1.0
    k_fire[:] = 0.0
    n_fired = 0
    k = 0
    while k < n and n_fired < n_out:
        t_k = times[k]
        end = k + 1
        while times[end] == t_k:  # times[n] = inf ends the last group
            end += 1
        t_next = times[end]
        for m in range(k, end - 1):
            w_row = weight_t[row[m]]
            for j in range(n_out):
                w = np.float64(w_row[j]) * alive[j]
                s[j] += w
                p[j] += w * t_k
        w_row = weight_t[row[end - 1]]
        n_new = 0
        for j in range(n_out):
            a_j = alive[j]
            w = np.float64(w_row[j]) * a_j
            s_j = s[j] + w
            p_j = p[j] + w * t_k
            s[j] = s_j
            p[j] = p_j
            n_new += np.int64((a_j > 0.0) & (s_j > 0.0) & (s_j * t_next - p_j >= theta[j]))
        if n_new > 0:
            k_end = np.float64(end)
            for j in range(n_out):
                a_j = alive[j]
                new = np.float64((a_j > 0.0) & (s[j] > 0.0) & (s[j] * t_next - p[j] >= theta[j]))
                alive[j] = a_j - new
                k_fire[j] += new * k_end
            n_fired += n_new
        k = end


@numba.njit(fastmath=False, cache=True)
def _forward_rows(t_in, order, weight_t, theta, start, stop, t_out, n_causal, slope):
    """The forward for samples start..stop-1 (one thread's share): sort each sample's finite
    inputs (:func:`_sort_row`), walk them (:func:`_walk`), store the spikes."""
    n_in = t_in.shape[1]
    n_out = weight_t.shape[1]
    s = np.empty(n_out, np.float64)
    p = np.empty(n_out, np.float64)
    alive = np.empty(n_out, np.float64)  # 1.0 until the neuron fires, then 0.0
    k_fire = np.empty(n_out, np.float64)  # n_causal (a small exact integer) once fired, else 0
    times = np.empty(n_in + 1, np.float64)
    times_tmp = np.empty(n_in, np.float64)
    index_tmp = np.empty(n_in, np.int64)
    counts = np.empty(np.int64(n_in * SORT_DENSITY) + 2, np.int64)
    for b in range(start, stop):
        order_b = order[b]
        n = _sort_row(t_in[b], order_b, times, times_tmp, index_tmp, counts, SORT_DENSITY)
        _walk(order_b, times, n, weight_t, theta, s, p, alive, k_fire)
        for j in range(n_out):
            _store_spike(
                np.int64(k_fire[j]), s[j], p[j], theta[j], times, b, j, t_out, n_causal, slope
            )


@numba.njit(fastmath=False, cache=True, inline="always")
def _store_spike(k, s_k, p_k, theta_j, times, b, j, t_out, n_causal, slope):
    """Outputs of neuron j of sample b that crossed after the k-th sorted input (k = 0: silent)."""
    n_causal[b, j] = k
    if k == 0:
        t_out[b, j] = np.inf
        slope[b, j] = 0.0
        return
    t_j = (theta_j + p_k) / s_k
    t_out[b, j] = min(max(t_j, times[k - 1]), times[k])  # rounding guard: stay in segment
    slope[b, j] = s_k


@numba.njit(fastmath={"reassoc", "contract"}, cache=True)
def _dot(x, y):
    """sum_j x[j] y[j] in x's dtype, reassociated into vector lanes (a fixed order for a given
    length, so the result does not depend on threads or chunks)."""
    acc = x.dtype.type(0.0)
    for j in range(x.shape[0]):
        acc += x[j] * y[j]
    return acc


@numba.njit(fastmath={"reassoc", "contract"}, cache=True)
def _update_dot(act, act_t, t_i, g_row, w_row):
    """g_row[j] += act[j] t_i - act_t[j] for all j, and return sum_j act[j] w_row[j] (summed in
    vector lanes, as :func:`_dot`), in one pass over the neurons, in act's dtype."""
    acc = act.dtype.type(0.0)
    for j in range(act.shape[0]):
        a = act[j]
        g_row[j] += a * t_i - act_t[j]
        acc += a * w_row[j]
    return acc


@numba.njit(fastmath={"reassoc", "contract"}, cache=True)
def _walk_both(act, act_t, ending, starts, max_causal, order_b, t_b, weight_t, grad_w_t, grad_in_b):
    """The backward walk of one sample for both gradients: per causal input i (time order),
    the neurons whose causal set ends there leave (act = act_t = 0), then :func:`_update_dot`
    adds dW[i] and returns dt_in[i]. A function of _update_dot's own flags, so that LLVM
    inlines it (called from the fastmath=False row loop it stayed a call per input: 2.6 ->
    1.0 ms for an 800 -> 10 layer, batch 128); the same arithmetic, bit for bit."""
    zero = act.dtype.type(0.0)
    for k in range(max_causal):
        for m in range(starts[k], starts[k + 1]):
            act[ending[m]] = zero
            act_t[ending[m]] = zero
        i = order_b[k]
        grad_in_b[i] = _update_dot(act, act_t, t_b[i], grad_w_t[i], weight_t[i])


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
    """The backward walk for samples start..stop-1 into one thread's dW buffer [I, O], in the
    dtype of t_in (float32 tensors: float32 arithmetic, 8 lanes per AVX2 vector; see the
    module docstring for its error bound)."""
    n_in = t_in.shape[1]
    n_out = weight_t.shape[1]
    real = t_in.dtype.type
    act = np.empty(n_out, t_in.dtype)  # a_bj while input k is still causal for j, else 0
    act_t = np.empty(n_out, t_in.dtype)  # a_bj * t_bj, same mask
    n_ending = np.empty(n_in + 1, np.int64)
    starts = np.empty(n_in + 2, np.int64)
    ending = np.empty(n_out, np.int64)  # neurons grouped by n_causal (a bucket sort)
    for b in range(start, stop):
        n_ending[:] = 0
        max_causal = 0
        for j in range(n_out):
            nc = n_causal[b, j]
            a_j = real(a[b, j])
            if nc > 0 and a_j != 0.0:
                act[j] = a_j
                act_t[j] = a_j * real(t_out[b, j])
                n_ending[nc] += 1
                max_causal = max(max_causal, nc)
            else:
                act[j] = 0.0
                act_t[j] = 0.0
        starts[0] = 0
        for k in range(n_in + 1):
            starts[k + 1] = starts[k] + n_ending[k]
        for j in range(n_out):  # n_ending[nc] counts down: a neuron's slot in its bucket
            if act[j] != 0.0:
                nc = n_causal[b, j]
                n_ending[nc] -= 1
                ending[starts[nc] + n_ending[nc]] = j
        if need_w and need_in:  # one pass over the neurons for both
            _walk_both(act, act_t, ending, starts, max_causal, order[b], t_in[b], weight_t,
                       grad_w_t, grad_in[b])  # fmt: skip
            continue
        for k in range(max_causal):
            for m in range(starts[k], starts[k + 1]):  # leaving these neurons' causal sets
                act[ending[m]] = 0.0
                act_t[ending[m]] = 0.0
            i = order[b, k]
            w_row = weight_t[i]
            t_i = real(t_in[b, i])
            if need_w:
                g_row = grad_w_t[i]
                for j in range(n_out):
                    g_row[j] += act[j] * t_i - act_t[j]
            elif need_in:
                grad_in[b, i] = _dot(act, w_row)


def _run_chunks(batch: int, serial, parallel, args: tuple) -> None:
    """serial(*args, start, stop) over the batch: on the calling thread for one chunk, else one
    chunk per thread on torch's team (or parallel(*args, n_chunks), numba's pool)."""
    if batch == 0:
        return
    chunks = num_chunks(batch)
    team = _team() if chunks > 1 else None
    if chunks == 1:  # no parallel region: its thread pool costs time slices on a busy machine
        serial(*args, 0, batch)
    elif team is not None:

        def work(c: int) -> None:
            serial(*args, c * batch // chunks, (c + 1) * batch // chunks)

        team.run(chunks, work)
    else:
        parallel(*args, chunks)


@numba.njit(fastmath=False, cache=True, nogil=True)
def _forward_serial(
    t_in, order, weight_t, theta, mask, horizon, t_out, n_causal, slope, start, stop
):
    _forward_rows(t_in, order, weight_t, theta, start, stop, t_out, n_causal, slope)
    if mask:
        _mask_silent(horizon, start, stop, t_out, n_causal, slope)


@numba.njit(fastmath=False, cache=True)
def _mask_silent(horizon, start, stop, t_out, n_causal, slope):
    """relpsp_linear's masks on rows start..stop-1: a spike time that is +inf as stored
    (overflow: S denormal-small) or later than ``horizon`` (in t_out's dtype, as torch
    compares) is silent: t = +inf, n_causal = 0, slope = 0. A pass of its own: in the
    store loop it slowed the walk down (LLVM's code for the whole row function changed)."""
    for b in range(start, stop):
        for j in range(t_out.shape[1]):
            t_j = t_out[b, j]
            if not t_j < np.inf or t_j > horizon:
                t_out[b, j] = np.inf
                n_causal[b, j] = 0
                slope[b, j] = 0.0


def forward(t_in: Tensor, weight: Tensor, threshold: Tensor) -> ForwardResult:
    """Exact first-crossing times. t_in [B, I], weight [O, I], threshold [O] (CPU tensors)."""
    return _forward(t_in, weight, threshold, False, None)


def layer_forward(
    t_in: Tensor, weight: Tensor, threshold: Tensor, horizon: float | None
) -> ForwardResult:
    """:func:`forward` with relpsp_linear's masks applied in the kernel: a spike time that is
    +inf as stored (overflow) or later than ``horizon`` (None = no horizon) is silent, with
    n_causal = 0 and slope = 0 (the same values as torch's masks, without their passes)."""
    return _forward(t_in, weight, threshold, True, horizon)


def _forward(t_in, weight, threshold, mask: bool, horizon: float | None) -> ForwardResult:
    batch, n_in = t_in.shape
    n_out = weight.shape[0]
    order_np = np.empty((batch, n_in), dtype=np.int64)
    t_np = _numpy(t_in)
    weight_t = _numpy(weight.t())
    theta = _numpy(threshold).astype(np.float64)
    t_out = np.empty((batch, n_out), dtype=t_np.dtype)
    n_causal = np.empty((batch, n_out), dtype=np.int64)
    slope = np.empty((batch, n_out), dtype=t_np.dtype)
    # compared in t's dtype, as torch compares a tensor with a Python number
    limit = t_np.dtype.type(np.inf if horizon is None else horizon)
    args = (t_np, order_np, weight_t, theta, mask, limit, t_out, n_causal, slope)
    _run_chunks(batch, _forward_serial, _forward_chunked, args)
    return ForwardResult(
        torch.from_numpy(t_out),
        torch.from_numpy(order_np),
        torch.from_numpy(n_causal),
        torch.from_numpy(slope),
    )


@numba.njit(parallel=True, fastmath=False, cache=True)
def _forward_chunked(t_in, order, weight_t, theta, mask, horizon, t_out, n_causal, slope, n_chunks):
    batch = t_in.shape[0]
    for c in prange(n_chunks):
        start, stop = c * batch // n_chunks, (c + 1) * batch // n_chunks
        _forward_rows(t_in, order, weight_t, theta, start, stop, t_out, n_causal, slope)
        if mask:
            _mask_silent(horizon, start, stop, t_out, n_causal, slope)


@numba.njit(fastmath=False, cache=True)
def _activations(grad, slope, n_causal, max_inv_slope, a):
    """a = dL/dt_out / S as relpsp_linear computes it in torch, in grad's dtype (a non-finite
    gradient counts as 0; 1/S clamped at max_inv_slope; 0 at silent outputs). Returns whether
    a finite non-zero gradient reaches a silent output."""
    zero = grad.dtype.type(0.0)
    one = grad.dtype.type(1.0)
    silent = False
    for b in range(grad.shape[0]):
        for j in range(grad.shape[1]):
            g = grad[b, j]
            g = g if abs(g) < np.inf else zero
            inv = zero
            if n_causal[b, j] > 0:
                inv = min(one / slope[b, j], max_inv_slope)
            elif g != 0.0:
                silent = True
            a[b, j] = g * inv
    return silent


def layer_backward(
    grad_out: Tensor,
    slope: Tensor,
    max_inv_slope: float | None,
    t_in: Tensor,
    t_out: Tensor,
    weight: Tensor,
    order: Tensor,
    n_causal: Tensor,
    need_input_grad: bool = True,
    need_weight_grad: bool = True,
) -> tuple[Tensor | None, Tensor | None, Tensor, bool]:
    """:func:`backward` from dL/dt_out itself (relpsp_linear's torch passes done here):
    a = g / S (g = 0 where not finite, 1/S clamped at ``max_inv_slope``, a = 0 where silent).
    Returns (dL/dt_in, dL/dW, a, whether a finite non-zero gradient reaches a silent output).
    grad_out and slope share t_in's dtype; a, bit for bit torch's value."""
    g_np = _numpy(grad_out)
    a = np.empty(g_np.shape, dtype=g_np.dtype)
    limit = g_np.dtype.type(np.inf if max_inv_slope is None else max_inv_slope)
    silent = _activations(g_np, _numpy(slope), _numpy(n_causal), limit, a)
    a_t = torch.from_numpy(a)
    grads = backward(a_t, t_in, t_out, weight, order, n_causal, need_input_grad, need_weight_grad)
    return grads[0], grads[1], a_t, silent


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
