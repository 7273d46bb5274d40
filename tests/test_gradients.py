"""The STDBP backward of relpsp_linear is the exact derivative: gradcheck in float64."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch
from brute_force import first_crossings, random_problem

from stdbp_plugin.functional import relpsp_linear

# finite differences step 1e-6; a case is accepted only when no input time, no earlier local
# maximum of V and no firing/silence boundary lies within MARGIN of it (so the causal set,
# hence the closed form, is the same at every evaluated point)
MARGIN = 1e-2


@functools.cache
def well_conditioned_problem(seed: int, batch=4, n_in=6, n_out=5, scalar_theta=None):
    """A random problem (no ties with the crossing) on which finite differences are valid."""
    rng = np.random.default_rng(seed)
    for _ in range(2000):
        t_in, weight, bias, theta = random_problem(rng, batch, n_in, n_out, tie_grid=None)
        if scalar_theta is not None:
            theta = np.full(n_out, scalar_theta)
        t_in[-1, : n_in // 2] = rng.uniform(0, 2, n_in // 2)  # no all-silent sample here
        times, slopes, margins, gaps = first_crossings(t_in, weight, bias, theta)
        fired = np.isfinite(times)
        tail = np.where(np.isfinite(t_in), 1.0, 0.0) @ weight.T + bias  # slope after last input
        ok = (
            np.all(margins > MARGIN)
            and np.all(gaps[fired] > MARGIN)
            and np.all(slopes[fired] > 0.1)
            and np.all(np.abs(tail) > MARGIN)
            and 0.3 < fired.mean() < 1.0
        )
        if ok:
            return t_in, weight, bias, theta
    raise RuntimeError("no well-conditioned problem found")


def finite_or_zero(t: torch.Tensor) -> torch.Tensor:
    """gradcheck needs finite outputs: silent (+inf) entries become 0 (and pass no gradient)."""
    return torch.where(torch.isfinite(t), t, torch.zeros_like(t))


@pytest.mark.parametrize("seed", range(2))
@pytest.mark.parametrize("theta_kind", ["scalar", "per_neuron"])
def test_gradcheck_all_arguments(backend, seed, theta_kind):
    scalar = 0.8 if theta_kind == "scalar" else None
    t_np, w_np, b_np, theta_np = well_conditioned_problem(seed, scalar_theta=scalar)
    t_in = torch.tensor(t_np, requires_grad=True)
    weight = torch.tensor(w_np, requires_grad=True)
    bias = torch.tensor(b_np, requires_grad=True)
    theta = torch.tensor(scalar if scalar else theta_np, dtype=torch.float64, requires_grad=True)

    def layer(t, w, b, th):
        return finite_or_zero(relpsp_linear(t, w, b, th, backend=backend))

    # inf inputs stay inf under finite differences; their gradient must be exactly 0
    assert torch.autograd.gradcheck(layer, (t_in, weight, bias, theta), eps=1e-6, atol=1e-6)


def test_gradient_formulas_by_hand(backend):
    """dt/dw_i = (t_i - t_j)/S, dt/dt_i = w_i/S, dt/dtheta = 1/S on a case solved by hand."""
    t_in = torch.tensor([[0.0, 0.5, 3.0, float("inf")]], dtype=torch.float64, requires_grad=True)
    weight = torch.tensor([[1.0, 2.0, 4.0, 7.0]], dtype=torch.float64, requires_grad=True)
    theta = torch.tensor([1.5], dtype=torch.float64, requires_grad=True)
    t_out = relpsp_linear(t_in, weight, threshold=theta, backend=backend)
    # V = t on [0, .5): .5 < 1.5; then S = 3, P = 1: t = (1.5 + 1) / 3 = 5/6 < 3
    assert t_out.item() == pytest.approx(5 / 6)
    t_out.sum().backward()
    s, t_j = 3.0, 5 / 6
    torch.testing.assert_close(
        weight.grad, torch.tensor([[-t_j / s, (0.5 - t_j) / s, 0.0, 0.0]]).double()
    )
    torch.testing.assert_close(t_in.grad, torch.tensor([[1 / s, 2 / s, 0.0, 0.0]]).double())
    torch.testing.assert_close(theta.grad, torch.tensor([1 / s]).double())


@pytest.mark.parametrize("seed", range(2))
def test_float32_gradients_match_float64(backend, seed):
    t_np, w_np, b_np, theta_np = well_conditioned_problem(seed + 10, batch=6, n_in=10, n_out=8)
    grads = {}
    for dtype in (torch.float32, torch.float64):
        args = [
            torch.tensor(a, dtype=dtype, requires_grad=True) for a in (t_np, w_np, b_np, theta_np)
        ]
        out = finite_or_zero(relpsp_linear(*args, backend=backend))
        out.sum().backward()
        grads[dtype] = [a.grad.double() for a in args]
    for g32, g64 in zip(grads[torch.float32], grads[torch.float64], strict=True):
        torch.testing.assert_close(g32, g64, rtol=1e-4, atol=1e-4)


def test_overflowing_spike_time_is_silent_with_finite_gradients(backend):
    """Regression (found by hypothesis): a denormal slope S makes (theta + P) / S overflow to
    +inf; that neuron must count as silent, not send 0 * (1/S = inf) = NaN into the gradients."""
    t_in = torch.tensor([[0.0, 0.0, float("inf")]], dtype=torch.float64, requires_grad=True)
    weight = torch.tensor([[1.0, 0.0, 1.0], [5e-324, 5e-324, 1.0]], dtype=torch.float64)
    weight.requires_grad_()
    t_out = relpsp_linear(t_in, weight, backend=backend)
    assert t_out[0, 0].item() == 1.0 and torch.isinf(t_out[0, 1])
    t_out[0, 0].backward()
    assert torch.isfinite(t_in.grad).all() and torch.isfinite(weight.grad).all()
    torch.testing.assert_close(t_in.grad, torch.tensor([[1.0, 0.0, 0.0]], dtype=torch.float64))
