"""The numba backward in float32 arithmetic stays within its derived error bound.

For float32 tensors the backward computes in float32 (stdbp_plugin.kernels.numba_cpu's
docstring derives the bound, u = 2^-24):

    |dW32 - dW| <= (B + 1) u sum_b |a_bj| t_bj [i causal]  (+ u |dW| per summed thread buffer)
    |dt32 - dt| <= (N_out + 1) u sum_j |a_bj W_ji| [i causal]

Checked against the float64 kernel run on the same (float32-representable) values, whose own
error is ~1e-16 and is covered by the bitwise / 1e-12 tests of test_kernel_numba.py; the
float64 sums of the bounds come from the reference's causal mask, computed independently.
"""

from __future__ import annotations

import pytest
import torch

from stdbp_plugin.kernels import numba_cpu, reference

U32 = 2.0**-24


def problem(seed: int, batch: int, n_in: int, n_out: int, grid: float | None):
    """float32 values: times in [0, 2] (40% silent, optionally on a grid: ties), weights with a
    positive mean (most neurons fire), thresholds 1, gradients a of both signs."""
    g = torch.Generator().manual_seed(seed)
    t = 2.0 * torch.rand(batch, n_in, generator=g)
    if grid is not None:
        t = torch.round(t / grid) * grid
    t[torch.rand(batch, n_in, generator=g) < 0.4] = float("inf")
    w = (torch.randn(n_out, n_in, generator=g) + 1.5) / n_in**0.5
    theta = torch.ones(n_out)
    fwd = numba_cpu.forward(t.double(), w.double(), theta.double())
    a = torch.randn(batch, n_out, generator=g) * (fwd.n_causal > 0)
    return t, w, a, fwd


def causal_mask(fwd, n_in: int) -> torch.Tensor:
    """[B, O, I]: input i is causal for (b, j) (rank below n_causal), as the reference has it."""
    batch = fwd.order.shape[0]
    rank = torch.empty_like(fwd.order)
    rank.scatter_(1, fwd.order, torch.arange(n_in).expand(batch, n_in))
    return rank[:, None, :] < fwd.n_causal[:, :, None]


def bounds(t, w, a, fwd) -> tuple[torch.Tensor, torch.Tensor]:
    """The derived error bounds (float64) of the float32 dt_in and dW."""
    batch, n_in = t.shape
    causal = causal_mask(fwd, n_in).double()
    a64 = a.double()
    # t_out as the float32 kernel sees it (rounded to float32): the bound's t_j
    t_j = torch.where(torch.isfinite(fwd.t_out), fwd.t_out.float().double(), 0.0)
    w_terms = torch.einsum("bo,boi->oi", (a64 * t_j).abs(), causal)
    in_terms = torch.einsum("bo,oi,boi->bi", a64.abs(), w.double().abs(), causal)
    bound_in = (w.shape[0] + 1) * U32 * in_terms
    return bound_in, (batch + 1) * U32 * w_terms


def float64_grads(t, w, a, fwd, need_in=True, need_w=True):
    return numba_cpu.backward(
        a.double(), t.double(), fwd.t_out, w.double(), fwd.order, fwd.n_causal, need_in, need_w
    )


def float32_grads(t, w, a, fwd, need_in=True, need_w=True):
    args = (a, t, fwd.t_out.float(), w, fwd.order, fwd.n_causal, need_in, need_w)
    return numba_cpu.backward(*args)


@pytest.mark.parametrize(
    ("seed", "batch", "n_in", "n_out", "grid"),
    [(0, 64, 300, 50, None), (1, 32, 200, 37, 0.125), (2, 16, 40, 9, None)],
)
def test_float32_backward_within_derived_bound(seed, batch, n_in, n_out, grid):
    t, w, a, fwd = problem(seed, batch, n_in, n_out, grid)
    g_in64, g_w64 = float64_grads(t, w, a, fwd)
    g_in32, g_w32 = float32_grads(t, w, a, fwd)
    assert g_in32.dtype == torch.float32 and g_w32.dtype == torch.float32
    # the float64 run must match the float64 reference: the comparison's own yardstick
    r_in, r_w = reference.backward(
        a.double(), t.double(), fwd.t_out, w.double(), fwd.order, fwd.n_causal
    )
    torch.testing.assert_close(g_in64, r_in, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(g_w64, r_w, rtol=1e-12, atol=1e-12)

    bound_in, bound_w = bounds(t, w, a, fwd)
    bound_w = bound_w + numba_cpu.num_chunks(batch) * U32 * g_w64.abs()  # thread buffers' sum
    err_w = (g_w32.double() - g_w64).abs()
    err_in = (g_in32.double() - g_in64).abs()
    assert (err_w <= bound_w).all(), float((err_w - bound_w).max())
    assert (err_in <= bound_in).all(), float((err_in - bound_in).max())
    # not vacuous: the float32 path really rounds, and the bound is a tight, float32-sized one
    assert err_w.max() > 0 and err_in.max() > 0
    assert float(bound_w.max()) < 1e-4 * float(g_w64.abs().max())
    assert float(bound_in.max()) < 1e-4 * float(g_in64.abs().max())


def test_float32_partial_gradients_within_bound():
    """need_input_grad / need_weight_grad alone take other loops; the same bounds hold."""
    t, w, a, fwd = problem(3, 24, 120, 20, 0.25)
    g_in64, g_w64 = float64_grads(t, w, a, fwd)
    bound_in, bound_w = bounds(t, w, a, fwd)
    g_in, none_w = float32_grads(t, w, a, fwd, need_w=False)
    none_in, g_w = float32_grads(t, w, a, fwd, need_in=False)
    assert none_w is None and none_in is None
    bound_w = bound_w + numba_cpu.num_chunks(24) * U32 * g_w64.abs()
    assert ((g_in.double() - g_in64).abs() <= bound_in).all()
    assert ((g_w.double() - g_w64).abs() <= bound_w).all()
