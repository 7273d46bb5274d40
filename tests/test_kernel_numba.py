"""The numba CPU backend equals the pure-torch reference kernel (forward and STDBP gradients).

The reference (stdbp_plugin.kernels.reference) is the specification; float64 results must agree
to rounding, float32 numba results must agree with the float64 reference run on the same values
(the forward accumulates in float64; the float32 backward's own error bound is checked in
test_kernel_numba_float32.py).
"""

from __future__ import annotations

import numba
import pytest
import torch
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from stdbp_plugin.functional import relpsp_linear
from stdbp_plugin.kernels import numba_cpu, reference, resolve_backend

SETTINGS = settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)


def make_case(seed: int, batch: int, n_in: int, n_out: int, silent: float, grid: float | None):
    """Random times in [0, 2] (+inf with prob. `silent`; rounded to `grid` to create ties),
    weights of both signs with a positive mean, per-neuron thresholds in [0.2, 1.2]."""
    g = torch.Generator().manual_seed(seed)
    t = 2.0 * torch.rand(batch, n_in, generator=g, dtype=torch.float64)
    if grid is not None:
        t = torch.round(t / grid) * grid
    t[torch.rand(batch, n_in, generator=g) < silent] = float("inf")
    if batch > 1:
        t[-1] = float("inf")  # an all-silent sample
    w = torch.randn(n_out, n_in, generator=g, dtype=torch.float64) + 0.8 / n_in**0.5
    bias = 0.3 * torch.randn(n_out, generator=g, dtype=torch.float64)
    theta = 0.2 + torch.rand(n_out, generator=g, dtype=torch.float64)
    return t, w, bias, theta


cases = st.builds(
    make_case,
    seed=st.integers(0, 2**31 - 1),
    batch=st.integers(1, 6),
    n_in=st.integers(1, 14),
    n_out=st.integers(1, 6),
    silent=st.sampled_from([0.0, 0.3, 0.7]),
    grid=st.sampled_from([None, 0.25, 0.5]),
)


def assert_forward_matches(t, w, theta):
    ref = reference.forward(t.double(), w.double(), theta.double())
    out = numba_cpu.forward(t, w, theta)
    assert out.t_out.dtype == t.dtype and out.slope.dtype == t.dtype
    assert out.order.dtype == torch.int64 and out.n_causal.dtype == torch.int64
    assert torch.equal(out.order, ref.order)
    assert torch.equal(out.n_causal, ref.n_causal)
    assert torch.equal(torch.isinf(out.t_out), torch.isinf(ref.t_out))
    finite = torch.isfinite(ref.t_out)
    if t.dtype == torch.float64:
        torch.testing.assert_close(out.t_out[finite], ref.t_out[finite], rtol=1e-10, atol=1e-10)
        torch.testing.assert_close(out.slope, ref.slope, rtol=1e-10, atol=1e-12)
    else:  # float32 storage of float64-accumulated results: within float32 rounding
        torch.testing.assert_close(
            out.t_out[finite].double(), ref.t_out[finite], rtol=1e-6, atol=1e-6
        )
        torch.testing.assert_close(out.slope.double(), ref.slope, rtol=1e-6, atol=1e-6)
    return ref


@SETTINGS
@example(case=make_case(1, 1, 5, 1, 0.3, 0.25), dtype=torch.float64)  # batch 1, N_out 1
@example(case=make_case(2, 4, 8, 1, 0.0, 0.5), dtype=torch.float32)  # N_out 1, all tied pairs
@example(case=make_case(3, 1, 1, 3, 0.0, None), dtype=torch.float64)  # a single input
@given(case=cases, dtype=st.sampled_from([torch.float64, torch.float32]))
def test_forward_equals_reference(case, dtype):
    t, w, _, theta = case
    assert_forward_matches(t.to(dtype), w.to(dtype), theta.to(dtype))


def grads(t, w, bias, theta, backend, coeff):
    t = t.clone().requires_grad_()
    w = w.clone().requires_grad_()
    bias = bias.clone().requires_grad_()
    theta = theta.clone().requires_grad_()
    t_out = relpsp_linear(t, w, bias, theta, backend=backend)
    loss = (torch.where(torch.isfinite(t_out), t_out, 0.0) * coeff).sum()
    loss.backward()
    return t_out.detach(), t.grad, w.grad, bias.grad, theta.grad


@SETTINGS
@example(case=make_case(1, 1, 5, 1, 0.3, 0.25), dtype=torch.float64)  # batch 1, N_out 1
@example(case=make_case(2, 4, 8, 1, 0.0, 0.5), dtype=torch.float32)  # N_out 1, all tied pairs
@example(case=make_case(3, 1, 1, 3, 0.0, None), dtype=torch.float64)  # a single input
@given(case=cases, dtype=st.sampled_from([torch.float64, torch.float32]))
def test_gradients_equal_reference(case, dtype):
    t, w, bias, theta = case
    coeff = torch.linspace(-1.0, 2.0, t.shape[0] * w.shape[0], dtype=torch.float64)
    coeff = coeff.reshape(t.shape[0], w.shape[0])
    ref = grads(t, w, bias, theta, "torch", coeff)  # float64 reference
    got = grads(*(x.to(dtype) for x in (t, w, bias, theta)), "numba", coeff.to(dtype))
    tol = {"rtol": 1e-9, "atol": 1e-9} if dtype == torch.float64 else {"rtol": 2e-4, "atol": 2e-4}
    for name, g_ref, g_got in zip(
        ("t_out", "t_in", "weight", "bias", "theta"), ref, got, strict=True
    ):
        assert g_got.dtype == dtype, name
        finite = g_ref[torch.isfinite(g_ref)].abs()
        scale = max(1.0, float(finite.max())) if finite.numel() else 1.0
        torch.testing.assert_close(
            g_got.double() / scale,
            g_ref / scale,
            **tol,
            msg=lambda m, n=name: f"{n}: {m}",
        )


def test_digits_layer_matches_reference(digits):
    """A realistic layer: latency-coded digits (many tied times), 64 -> 40, batch 48."""
    x, _ = digits
    t = torch.where(x[:48] > 0, 1.0 - x[:48], float("inf")).double()
    g = torch.Generator().manual_seed(1)
    w = 0.2 * torch.randn(40, 64, generator=g, dtype=torch.float64) + 0.05
    bias = 0.1 * torch.randn(40, generator=g, dtype=torch.float64)
    theta = torch.full((40,), 1.0, dtype=torch.float64)
    ref = assert_forward_matches(t, w, theta)
    assert 0.2 < (ref.n_causal > 0).double().mean() < 1.0  # some fire, some do not
    coeff = torch.randn(48, 40, generator=g, dtype=torch.float64)
    for g_ref, g_got in zip(
        grads(t, w, bias, theta, "torch", coeff),
        grads(t, w, bias, theta, "numba", coeff),
        strict=True,
    ):
        torch.testing.assert_close(g_got, g_ref, rtol=1e-9, atol=1e-9)


def test_non_contiguous_inputs_and_partial_gradients():
    t, w, bias, theta = make_case(3, 5, 9, 4, silent=0.3, grid=0.25)
    t_nc = t.T.contiguous().T  # same values, column-major
    w_nc = w.T.contiguous().T
    assert not t_nc.is_contiguous() and not w_nc.is_contiguous()
    ref = reference.forward(t, w, theta)
    out = numba_cpu.forward(t_nc, w_nc, theta)
    assert torch.equal(out.t_out, ref.t_out) and torch.equal(out.n_causal, ref.n_causal)
    a = torch.randn(5, 4, dtype=torch.float64) * (ref.n_causal > 0)
    args = (a, t_nc, ref.t_out, w_nc, ref.order, ref.n_causal)
    g_in, g_w = numba_cpu.backward(*args, need_input_grad=True, need_weight_grad=False)
    r_in, r_w = reference.backward(a, t, ref.t_out, w, ref.order, ref.n_causal, True, True)
    assert g_w is None
    torch.testing.assert_close(g_in, r_in, rtol=1e-12, atol=1e-12)
    g_in, g_w = numba_cpu.backward(*args, need_input_grad=False, need_weight_grad=True)
    assert g_in is None
    torch.testing.assert_close(g_w, r_w, rtol=1e-12, atol=1e-12)


def test_edge_shapes():
    """All inputs silent, a single input, zero outputs."""
    w = torch.randn(3, 4, dtype=torch.float64)
    theta = torch.ones(3, dtype=torch.float64)
    out = numba_cpu.forward(torch.full((2, 4), float("inf"), dtype=torch.float64), w, theta)
    assert torch.isinf(out.t_out).all() and (out.n_causal == 0).all() and (out.slope == 0).all()
    t1 = torch.tensor([[0.5]], dtype=torch.float64)
    out = numba_cpu.forward(t1, torch.tensor([[2.0], [-1.0]], dtype=torch.float64), theta[:2])
    # V = 2 (t - 0.5) = 1 at t = 1; the negative weight never fires
    assert out.t_out[0, 0] == 1.0 and torch.isinf(out.t_out[0, 1])
    assert out.n_causal.tolist() == [[1, 0]] and out.slope.tolist() == [[2.0, 0.0]]
    out = numba_cpu.forward(t1, torch.empty(0, 1, dtype=torch.float64), theta[:0])
    assert out.t_out.shape == (1, 0)


def test_thread_count_does_not_change_results():
    t, w, _, theta = make_case(7, 23, 12, 5, silent=0.2, grid=None)
    before = numba.get_num_threads(), torch.get_num_threads()
    try:
        numba.set_num_threads(1)
        torch.set_num_threads(1)
        one = numba_cpu.forward(t, w, theta)
        a = torch.randn(23, 5, dtype=torch.float64) * (one.n_causal > 0)
        g_one = numba_cpu.backward(a, t, one.t_out, w, one.order, one.n_causal, True, True)
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        torch.set_num_threads(3)  # chunks run on torch's threads (numba's pool where no OpenMP)
        many = numba_cpu.forward(t, w, theta)
        g_many = numba_cpu.backward(a, t, one.t_out, w, one.order, one.n_causal, True, True)
    finally:
        numba.set_num_threads(before[0])
        torch.set_num_threads(before[1])
    for x, y in zip(one, many, strict=True):
        assert torch.equal(x, y)
    torch.testing.assert_close(g_one[0], g_many[0], rtol=0, atol=0)
    torch.testing.assert_close(g_one[1], g_many[1], rtol=1e-12, atol=1e-12)


def test_auto_backend_picks_numba_on_cpu():
    assert resolve_backend("auto", torch.device("cpu")) is numba_cpu
    assert resolve_backend("numba", torch.device("cpu")) is numba_cpu


def test_rejects_non_cpu_tensors():
    meta = torch.empty(2, 3, device="meta")
    with pytest.raises(ValueError, match="CPU"):
        numba_cpu.forward(meta, torch.empty(1, 3, device="meta"), torch.ones(1, device="meta"))


def test_float32_accumulates_in_float64():
    """float32 in, float64 sums: equals the float64 computation on the same values, rounded once."""
    t, w, _, theta = make_case(11, 16, 300, 50, silent=0.5, grid=None)
    t32, w32, theta32 = t.float(), (0.1 * w).float(), theta.float()
    out32 = numba_cpu.forward(t32, w32, theta32)
    out64 = numba_cpu.forward(t32.double(), w32.double(), theta32.double())
    assert torch.equal(out32.n_causal, out64.n_causal)
    assert (out64.n_causal > 20).any()  # long sums, where float32 accumulation would drift
    assert torch.equal(out32.t_out, out64.t_out.float())
    assert torch.equal(out32.slope, out64.slope.float())


def test_spike_time_is_clamped_into_its_segment():
    """(theta + P) / S can round just past the next input time; it is clamped to t_(k+1)."""
    t0, w, theta = 0.07, 2.4, 0.9
    t1 = t0 + theta / w  # the crossing, where (theta + w t0) / w rounds to just above t1
    assert (theta + w * t0) / w > t1
    t = torch.tensor([[t0, t1]], dtype=torch.float64)
    weight = torch.tensor([[w, 0.5]], dtype=torch.float64)
    out = assert_forward_matches(t, weight, torch.tensor([theta], dtype=torch.float64))
    assert (
        numba_cpu.forward(t, weight, torch.tensor([theta], dtype=torch.float64)).t_out[0, 0] == t1
    )
    assert out.t_out[0, 0] == t1
