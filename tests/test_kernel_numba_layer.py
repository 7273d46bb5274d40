"""The numba kernel's layer entry points (layer_forward / layer_backward: relpsp_linear's masks
and a = g / S computed in the kernel) give bit for bit what the torch passes around the plain
forward / backward give, in float32 and float64, with a horizon, a 1/S clamp, non-finite
gradients, gradients at silent outputs and a spike time that overflows float32."""

from __future__ import annotations

import types

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from stdbp_plugin.functional.linear import _ReLPSPLinear
from stdbp_plugin.kernels import numba_cpu

# the same kernel without its layer entry points: relpsp_linear falls back to the torch passes
TORCH_PASSES = types.SimpleNamespace(
    forward=numba_cpu.forward, backward=numba_cpu.backward, WEIGHT_TRANSPOSED=True
)


def run(kernel, t, w, b, theta, grad_out, max_inv_slope, horizon):
    """(t_out, dL/dt_in, dL/dW, dL/db, dL/dtheta) of one layer call for the given dL/dt_out."""
    leaves = [x.clone().requires_grad_() for x in (t, w, b, theta)]
    t_out = _ReLPSPLinear.apply(*leaves, kernel, max_inv_slope, horizon)
    grads = torch.autograd.grad(t_out, leaves, grad_outputs=grad_out)
    return (t_out.detach(), *grads)


def make_case(seed: int, batch: int, n_in: int, n_out: int, grid: float | None, dtype):
    """Times in [0, 2] (30% silent, on a grid for ties), weights of both signs, thresholds in
    [0.2, 1.2], and dL/dt_out with +-inf, NaN and values at every output (silent ones too)."""
    g = torch.Generator().manual_seed(seed)
    t = 2.0 * torch.rand(batch, n_in, generator=g, dtype=torch.float64)
    if grid is not None:
        t = torch.round(t / grid) * grid
    t[torch.rand(batch, n_in, generator=g) < 0.3] = float("inf")
    w = torch.randn(n_out, n_in, generator=g, dtype=torch.float64) + 0.5 / n_in**0.5
    b = 0.3 * torch.randn(n_out, generator=g, dtype=torch.float64)
    theta = 0.2 + torch.rand(n_out, generator=g, dtype=torch.float64)
    grad_out = torch.randn(batch, n_out, generator=g, dtype=torch.float64)
    special = torch.tensor([float("inf"), -float("inf"), float("nan"), 0.0], dtype=torch.float64)
    pick = torch.randint(0, 12, (batch, n_out), generator=g)
    grad_out = torch.where(pick < 4, special[pick.clamp(max=3)], grad_out)
    return tuple(x.to(dtype) for x in (t, w, b, theta, grad_out))


def assert_same(got, want):
    names = ("t_out", "dt_in", "dW", "db", "dtheta")
    for name, x, y in zip(names, got, want, strict=True):
        assert x.dtype == y.dtype, name
        assert torch.equal(x.isnan(), y.isnan()), name
        assert torch.equal(x.nan_to_num(0.0), y.nan_to_num(0.0)), name


@settings(max_examples=40, deadline=None, derandomize=True)
@given(
    seed=st.integers(0, 2**31 - 1),
    batch=st.integers(1, 5),
    n_in=st.integers(1, 12),
    n_out=st.integers(1, 6),
    grid=st.sampled_from([None, 0.25]),
    dtype=st.sampled_from([torch.float32, torch.float64]),
    max_inv_slope=st.sampled_from([None, 0.7]),
    horizon=st.sampled_from([None, 1.3, 1.0 - 1e-9]),
)
def test_layer_entry_points_equal_torch_passes(
    seed, batch, n_in, n_out, grid, dtype, max_inv_slope, horizon
):
    case = make_case(seed, batch, n_in, n_out, grid, dtype)
    assert_same(
        run(numba_cpu, *case, max_inv_slope, horizon),
        run(TORCH_PASSES, *case, max_inv_slope, horizon),
    )


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_cases_exercise_clamp_horizon_and_silent_gradients(dtype):
    """The inputs above reach every branch: a clamped 1/S, spikes cut by the horizon, and a
    finite gradient at a silent output (which changes dW: the layer adds its revival term)."""
    t, w, b, theta, grad_out = make_case(7, 5, 12, 6, 0.25, dtype)
    fwd = numba_cpu.layer_forward(torch.cat([t.new_zeros(5, 1), t], 1), torch.cat(
        [b[:, None], w], 1), theta, None)  # fmt: skip
    fired = fwd.n_causal > 0
    assert (fwd.slope[fired] < 1 / 0.7).any()  # the clamp at 0.7 acts
    assert ((fwd.t_out > 1.3) & fired).any()  # the horizon 1.3 cuts some spikes
    silent_grad = ~fired & grad_out.isfinite() & (grad_out != 0)
    assert silent_grad.any()
    got = run(numba_cpu, t, w, b, theta, grad_out, None, None)
    no_revival = run(numba_cpu, t, w, b, theta, torch.where(fired, grad_out, 0.0), None, None)
    assert not torch.equal(got[2], no_revival[2])


def test_float32_overflow_is_silent_with_finite_gradients():
    """(theta + P) / S = 1e39 is finite in the float64 walk but +inf as float32: silent, with
    n_causal 0 and slope 0, as the torch masks make it."""
    t = torch.tensor([[0.0, 0.5]])
    w = torch.tensor([[1e-39, 0.0], [1.0, 1.0]])  # neuron 0: S = 1e-39 (float32 denormal)
    b = torch.zeros(2)
    theta = torch.ones(2)
    fwd = numba_cpu.layer_forward(t, w, theta, None)
    assert fwd.t_out[0, 0] == float("inf") and fwd.n_causal[0, 0] == 0 and fwd.slope[0, 0] == 0
    assert numba_cpu.forward(t, w, theta).n_causal[0, 0] > 0  # unmasked: it did cross
    grad_out = torch.ones(1, 2)
    got = run(numba_cpu, t, w, b, theta, grad_out, None, None)
    assert_same(got, run(TORCH_PASSES, t, w, b, theta, grad_out, None, None))
    assert all(g.isfinite().all() for g in got[1:])
