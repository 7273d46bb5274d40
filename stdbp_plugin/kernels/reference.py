"""Pure-torch reference backend of the event-driven ReL-PSP layer (any device, any float dtype).

Forward, per sample b and neuron j, with the inputs sorted t_(1) <= t_(2) <= ...:

    S_k = sum_{m<=k} w_(m),   P_k = sum_{m<=k} w_(m) t_(m),   V(t) = S_k t - P_k on [t_(k), t_(k+1))

The spike lies in the first segment k that ends a group of tied inputs (t_(k+1) > t_(k)) with
S_k > 0 and S_k t_(k+1) - P_k >= theta (for the last finite input: S_k > 0); then
t_j = (theta + P_k) / S_k and the causal set is the first k sorted inputs.

Backward, with a_bj = dL/dt_bj / S_bj (zero for silent neurons) and i causal for (b, j):

    dL/dW[j, i] = sum_b a_bj (t_bi - t_bj),     dL/dt_in[b, i] = sum_j a_bj W[j, i]

Memory: the work is chunked over the batch so that one chunk holds at most
``CHUNK_ELEMENTS`` entries of a [chunk, N_out, N_in] tensor; the peak extra memory is about
six such tensors, i.e. ``6 * CHUNK_ELEMENTS * itemsize`` bytes (400 MB in float32 with the
default 2**24), whatever the batch size. A single sample larger than the bound is processed
alone (N_out * N_in entries).
"""

from __future__ import annotations

import torch
from torch import Tensor

from stdbp_plugin.kernels.result import ForwardResult

CHUNK_ELEMENTS = 2**24


def _chunks(batch: int, per_sample: int):
    step = max(1, CHUNK_ELEMENTS // max(1, per_sample))
    for start in range(0, batch, step):
        yield slice(start, min(batch, start + step))


def forward(t_in: Tensor, weight: Tensor, threshold: Tensor) -> ForwardResult:
    """Exact first-crossing times. t_in [B, I], weight [O, I], threshold [O]."""
    batch, n_in = t_in.shape
    n_out = weight.shape[0]
    sorted_t, order = torch.sort(t_in, dim=1, stable=True)
    finite = torch.isfinite(sorted_t)
    t_next = torch.cat([sorted_t[:, 1:], sorted_t.new_full((batch, 1), float("inf"))], dim=1)
    ends_group = finite & (t_next > sorted_t)  # [B, I]
    t_zeroed = torch.where(finite, sorted_t, torch.zeros_like(sorted_t))

    t_out = t_in.new_full((batch, n_out), float("inf"))
    n_causal = torch.zeros((batch, n_out), dtype=torch.int64, device=t_in.device)
    slope = t_in.new_zeros((batch, n_out))
    theta = threshold.view(1, n_out, 1)
    for rows in _chunks(batch, n_out * n_in):
        w_sorted = weight[:, order[rows]].permute(1, 0, 2)  # [b, O, I]
        w_sorted = w_sorted * finite[rows, None, :]
        s = torch.cumsum(w_sorted, dim=2)
        p = torch.cumsum(w_sorted * t_zeroed[rows, None, :], dim=2)
        nxt = t_next[rows, None, :]
        crosses = torch.where(
            torch.isinf(nxt), torch.ones_like(s, dtype=torch.bool), s * nxt - p >= theta
        )
        valid = ends_group[rows, None, :] & (s > 0) & crosses
        fired = valid.any(dim=2)
        k = valid.to(torch.uint8).argmax(dim=2, keepdim=True)  # first valid segment
        s_k = s.gather(2, k).squeeze(2)
        p_k = p.gather(2, k).squeeze(2)
        lo = sorted_t[rows].gather(1, k.squeeze(2))
        hi = t_next[rows].gather(1, k.squeeze(2))
        t_k = (threshold.view(1, n_out) + p_k) / torch.where(fired, s_k, torch.ones_like(s_k))
        t_k = torch.minimum(torch.maximum(t_k, lo), hi)  # rounding guard: stay inside the segment
        t_out[rows] = torch.where(fired, t_k, torch.full_like(t_k, float("inf")))
        n_causal[rows] = torch.where(fired, k.squeeze(2) + 1, torch.zeros_like(n_causal[rows]))
        slope[rows] = torch.where(fired, s_k, torch.zeros_like(s_k))
    return ForwardResult(t_out, order, n_causal, slope)


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
    rank = torch.empty_like(order)
    rank.scatter_(1, order, torch.arange(n_in, device=order.device).expand(batch, n_in))
    grad_in = torch.zeros_like(t_in) if need_input_grad else None
    grad_w = torch.zeros_like(weight) if need_weight_grad else None
    t_safe = torch.where(torch.isfinite(t_in), t_in, torch.zeros_like(t_in))
    t_out_safe = torch.where(torch.isfinite(t_out), t_out, torch.zeros_like(t_out))
    for rows in _chunks(batch, n_out * n_in):
        causal = rank[rows, None, :] < n_causal[rows, :, None]  # [b, O, I]
        a_masked = a[rows, :, None] * causal
        if need_weight_grad:
            grad_w += torch.einsum("boi,bi->oi", a_masked, t_safe[rows])
            grad_w -= torch.einsum("boi,bo->oi", a_masked, t_out_safe[rows])
        if need_input_grad:
            grad_in[rows] = torch.einsum("boi,oi->bi", a_masked, weight)
    return grad_in, grad_w
